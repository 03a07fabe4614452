// The kubeconfig shapes bootstrap-tls reads itself, without @kubernetes/client-node: one file,
// its current-context (or its only context), a cluster with server, certificate-authority(-data),
// insecure-skip-tls-verify and tls-server-name, and a user with token, tokenFile or
// client-certificate(-data)/client-key(-data). Relative file paths are resolved against the
// kubeconfig's directory, as kubectl does. Anything else (exec, auth-provider, username/password,
// impersonation, proxy-url, fields this reader does not know) is reported as unsupported, and
// api-target.ts hands the file to client-node instead.
import { readFileSync } from 'node:fs'
import { dirname, isAbsolute, join } from 'node:path'
import { ErrorCodes, InjectorError } from '../errors.ts'

export interface KubeconfigCluster {
  readonly name: string
  readonly server: URL
  /** PEM; undefined: the system's trust store. */
  readonly ca: Buffer | undefined
  readonly insecureSkipTlsVerify: boolean
  readonly tlsServerName: string | undefined
}

export interface KubeconfigUser {
  /** The user's entry name ('' when the context names none: anonymous). */
  readonly name: string
  readonly token: string | undefined
  /** Absolute path of a file holding the token, read again for every request (it may rotate). */
  readonly tokenFile: string | undefined
  readonly cert: Buffer | undefined
  readonly key: Buffer | undefined
}

export type ParsedKubeconfig =
  | {
      readonly supported: true
      readonly context: string
      readonly namespace: string | undefined
      readonly cluster: KubeconfigCluster
      readonly user: KubeconfigUser
    }
  /** A shape only client-node handles; `reason` says which field, for the log. */
  | { readonly supported: false; readonly reason: string }

const CLUSTER_FIELDS = new Set(['server', 'certificate-authority', 'certificate-authority-data', 'insecure-skip-tls-verify', 'tls-server-name', 'extensions', 'disable-compression'])
const USER_FIELDS = new Set(['token', 'tokenFile', 'client-certificate', 'client-certificate-data', 'client-key', 'client-key-data', 'extensions'])

/** Reads and parses `file` (YAML, or JSON, which is YAML). Throws ERR_CONFIG when it is unusable. */
export async function readKubeconfig(file: string): Promise<ParsedKubeconfig> {
  let doc: unknown
  try {
    const text = readFileSync(file, 'utf8')
    doc = await parseDocument(text)
  } catch (err) {
    throw configError(file, (err as Error).message, err)
  }
  return parseKubeconfig(doc, file)
}

/**
 * JSON (which is YAML, and what `kubectl config view -o json` and many generators write) without
 * loading a YAML parser; anything else with one, loaded here rather than at the top so that the
 * in-cluster path never loads it.
 */
async function parseDocument(text: string): Promise<unknown> {
  if (text.trimStart().startsWith('{')) {
    try {
      return JSON.parse(text)
    } catch {
      // YAML flow mappings start with '{' too: let the YAML parser have it.
    }
  }
  const { parseYaml } = await import('./yaml.ts')
  return parseYaml(text)
}

/** The current context's cluster and user from a parsed kubeconfig document. */
export function parseKubeconfig(doc: unknown, file: string): ParsedKubeconfig {
  if (!isRecord(doc)) throw configError(file, 'not a kubeconfig (expected a mapping)')
  const contexts = namedEntries(doc.contexts, 'context')
  const current = nonEmptyString(doc['current-context'])
  const selected = current !== undefined ? contexts.find((c) => c.name === current) : contexts.length === 1 ? contexts[0] : undefined
  const context = selected?.value
  const clusterName = nonEmptyString(context?.cluster)
  const clusterEntry = clusterName === undefined ? undefined : namedEntries(doc.clusters, 'cluster').find((c) => c.name === clusterName)
  if (selected === undefined || context === undefined || clusterEntry === undefined) {
    const why = current === undefined && contexts.length > 1 ? ` (no current-context among ${contexts.length} contexts)` : ''
    throw new InjectorError(ErrorCodes.ERR_CONFIG, `kubeconfig ${file} has no current context with a cluster${why}`)
  }
  const userName = nonEmptyString(context.user)
  const userEntry = userName === undefined ? undefined : namedEntries(doc.users, 'user').find((u) => u.name === userName)
  if (userName !== undefined && userEntry === undefined) throw configError(file, `context "${selected.name}" names user "${userName}", which is not defined`)

  const c = clusterEntry.value
  const u = userEntry?.value ?? {}
  const unsupported =
    unknownField(c, CLUSTER_FIELDS, `cluster "${clusterEntry.name}"`) ?? unknownField(u, USER_FIELDS, `user "${userName}"`)
  if (unsupported !== undefined) return { supported: false, reason: unsupported }

  const dir = dirname(file)
  const server = parseServer(file, c.server, clusterEntry.name)
  const insecureSkipTlsVerify = c['insecure-skip-tls-verify'] === true
  if (server.protocol === 'http:' && !insecureSkipTlsVerify) {
    // As client-node: a bearer token over plain HTTP only when TLS is explicitly switched off.
    throw configError(file, `cluster "${clusterEntry.name}": server ${server.origin} is plain HTTP; set insecure-skip-tls-verify: true to allow it`)
  }
  const cluster: KubeconfigCluster = {
    name: clusterEntry.name,
    server,
    ca: material(file, dir, c, 'certificate-authority'),
    insecureSkipTlsVerify,
    tlsServerName: nonEmptyString(c['tls-server-name']),
  }
  const cert = material(file, dir, u, 'client-certificate')
  const key = material(file, dir, u, 'client-key')
  if ((cert === undefined) !== (key === undefined)) {
    throw configError(file, `user "${userName}" has a client ${cert ? 'certificate but no client-key' : 'key but no client-certificate'}`)
  }
  const tokenFile = nonEmptyString(u.tokenFile)
  const user: KubeconfigUser = {
    name: userName ?? '',
    token: nonEmptyString(u.token),
    tokenFile: tokenFile === undefined ? undefined : resolvePath(dir, tokenFile),
    cert,
    key,
  }
  if (user.token === undefined && user.tokenFile !== undefined) readMaterial(file, user.tokenFile, 'tokenFile') // fail now, not at the first request
  return { supported: true, context: selected.name, namespace: nonEmptyString(context.namespace), cluster, user }
}

function parseServer(file: string, raw: unknown, cluster: string): URL {
  const text = nonEmptyString(raw)
  if (text === undefined) throw configError(file, `cluster "${cluster}" has no server`)
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw configError(file, `cluster "${cluster}": server "${text}" is not a URL`)
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw configError(file, `cluster "${cluster}": server "${text}" is neither https nor http`)
  return url
}

/** `<field>-data` (base64, wins as in client-go) or the file `<field>`, relative to the kubeconfig. */
function material(file: string, dir: string, entry: Record<string, unknown>, field: string): Buffer | undefined {
  const data = nonEmptyString(entry[`${field}-data`])
  if (data !== undefined) return Buffer.from(data, 'base64')
  const path = nonEmptyString(entry[field])
  return path === undefined ? undefined : readMaterial(file, resolvePath(dir, path), field)
}

function readMaterial(file: string, path: string, field: string): Buffer {
  try {
    return readFileSync(path)
  } catch (err) {
    throw configError(file, `cannot read ${field} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, err)
  }
}

function resolvePath(dir: string, path: string): string {
  return isAbsolute(path) ? path : join(dir, path)
}

function unknownField(entry: Record<string, unknown>, known: ReadonlySet<string>, what: string): string | undefined {
  const extra = Object.keys(entry).filter((k) => !known.has(k) && entry[k] !== null && entry[k] !== undefined && entry[k] !== '')
  return extra.length === 0 ? undefined : `${what} uses ${extra.join(', ')}`
}

function namedEntries(list: unknown, key: string): Array<{ name: string; value: Record<string, unknown> }> {
  if (!Array.isArray(list)) return []
  return list.flatMap((item: unknown) => {
    if (!isRecord(item)) return []
    const name = typeof item.name === 'string' ? item.name : undefined
    const value = item[key] ?? {} // `user: null` is an anonymous user, as kubectl reads it
    return name !== undefined && isRecord(value) ? [{ name, value }] : []
  })
}

function nonEmptyString(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function configError(file: string, why: string, cause?: unknown): InjectorError {
  return new InjectorError(ErrorCodes.ERR_CONFIG, `cannot load kubeconfig ${file}: ${why}`, { cause })
}
