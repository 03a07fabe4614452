// Where bootstrap-tls's API credentials and namespace come from, without loading
// @kubernetes/client-node for the common cases: --kubeconfig/KUBECONFIG when given (read by
// kubeconfig.ts), else the pod's service account. Shapes only client-node handles (exec,
// auth-provider, username/password, proxies, several KUBECONFIG files) load it lazily, through
// kube-config.ts, and take TLS options and headers from its applyToHTTPSOptions. Environment and
// the service account directory are parameters: nothing here reads process.env.
import { readFileSync } from 'node:fs'
import type { Agent } from 'node:http'
import { delimiter, join } from 'node:path'
import { ErrorCodes, InjectorError } from '../errors.ts'
import { readKubeconfig, type KubeconfigUser } from './kubeconfig.ts'
import { identityOfToken, inClusterServer, pickNamespace, readOptional, SERVICE_ACCOUNT_DIR } from './service-account.ts'

export interface TlsSettings {
  readonly ca?: string | Buffer | ReadonlyArray<string | Buffer>
  readonly cert?: string | Buffer | ReadonlyArray<string | Buffer>
  readonly key?: string | Buffer | ReadonlyArray<string | Buffer>
  readonly pfx?: string | Buffer | ReadonlyArray<string | Buffer>
  readonly passphrase?: string
  /** false only when the kubeconfig says insecure-skip-tls-verify. */
  readonly rejectUnauthorized?: boolean
  /** tls-server-name: the name sent (SNI) and verified instead of the server's host. */
  readonly servername?: string
}

/** What one request needs besides method, path and body. */
export interface RequestSettings {
  readonly tls: TlsSettings
  readonly headers: Readonly<Record<string, string>>
  /** `user:password` (basic auth, client-node path only). */
  readonly auth?: string
  /** An agent that must be used (a proxy's); else the client's own keep-alive agent. */
  readonly agent?: Agent
}

export interface ApiConnection {
  /** The apiserver's URL; its path, if any, prefixes every request path. */
  readonly server: URL
  /** 'direct': credentials read here; 'client-node': a shape only @kubernetes/client-node handles. */
  readonly via: 'direct' | 'client-node'
  /** Why client-node was needed, for the log. */
  readonly fallbackReason?: string
  /** Called for every request, so a rotated token (projected, tokenFile, exec) is picked up. */
  requestSettings(): RequestSettings | Promise<RequestSettings>
}

export interface ApiTarget {
  readonly connection: ApiConnection
  readonly namespace: string
  /** Who we act as, for 401/403 messages: `service account "ns:name"` or `kubeconfig user "x"`. */
  readonly identity: string
  readonly source: 'in-cluster' | 'kubeconfig'
}

export interface ApiTargetOptions {
  /** --kubeconfig, or KUBECONFIG (a list separated by the path delimiter, merged like kubectl). */
  readonly kubeconfig: string | undefined
  /** --namespace, or POD_NAMESPACE. */
  readonly namespace: string | undefined
  readonly env: Readonly<Record<string, string | undefined>>
  readonly serviceAccountDir?: string
}

export async function loadApiTarget(opts: ApiTargetOptions): Promise<ApiTarget> {
  const saDir = opts.serviceAccountDir ?? SERVICE_ACCOUNT_DIR
  const saNamespace = readOptional(join(saDir, 'namespace'))?.trim()
  if (opts.kubeconfig !== undefined && opts.kubeconfig !== '') {
    const files = opts.kubeconfig.split(delimiter).filter((f) => f !== '')
    if (files.length !== 1) return viaClientNode(opts, `KUBECONFIG lists ${files.length} files`)
    const file = files[0] as string
    const parsed = await readKubeconfig(file)
    if (!parsed.supported) return viaClientNode(opts, parsed.reason)
    const { cluster, user } = parsed
    const tls: TlsSettings = {
      ...(cluster.ca ? { ca: cluster.ca } : {}),
      ...(user.cert && user.key ? { cert: user.cert, key: user.key } : {}),
      ...(cluster.insecureSkipTlsVerify ? { rejectUnauthorized: false } : {}),
      ...(cluster.tlsServerName ? { servername: cluster.tlsServerName } : {}),
    }
    const token = tokenSource(user)
    const anonymous = user.name === '' ? 'the kubeconfig\'s user' : `kubeconfig user "${user.name}"`
    return {
      connection: {
        server: cluster.server,
        via: 'direct',
        requestSettings: (): RequestSettings => {
          const bearer = token?.()
          return { tls, headers: bearer === undefined ? {} : { authorization: `Bearer ${bearer}` } }
        },
      },
      namespace: pickNamespace(opts.namespace, saNamespace, parsed.namespace),
      identity: identityOfToken(token?.(), anonymous),
      source: 'kubeconfig',
    }
  }

  const host = opts.env.KUBERNETES_SERVICE_HOST
  const port = opts.env.KUBERNETES_SERVICE_PORT
  const tokenFile = join(saDir, 'token')
  const token = readOptional(tokenFile)?.trim()
  if (!host || !port || token === undefined) {
    throw new InjectorError(
      ErrorCodes.ERR_CONFIG,
      `no Kubernetes credentials: not in a cluster (${!host || !port ? 'KUBERNETES_SERVICE_HOST/PORT unset' : `no token at ${tokenFile}`}) and no --kubeconfig or KUBECONFIG`,
    )
  }
  const caFile = join(saDir, 'ca.crt')
  let ca: Buffer
  try {
    ca = readFileSync(caFile)
  } catch (err) {
    throw new InjectorError(ErrorCodes.ERR_CONFIG, `no CA certificate at ${caFile} (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { cause: err })
  }
  // The kubelet rotates the projected token: it is read again for every request.
  const current = rereadingToken(tokenFile, token)
  return {
    connection: {
      server: new URL(inClusterServer(host, port)),
      via: 'direct',
      requestSettings: () => ({ tls: { ca }, headers: { authorization: `Bearer ${current()}` } }),
    },
    namespace: pickNamespace(opts.namespace, saNamespace, undefined),
    identity: identityOfToken(token, 'the pod\'s service account'),
    source: 'in-cluster',
  }
}

function tokenSource(user: KubeconfigUser): (() => string) | undefined {
  if (user.token !== undefined) {
    const token = user.token
    return () => token
  }
  if (user.tokenFile !== undefined) return rereadingToken(user.tokenFile, readFileSync(user.tokenFile, 'utf8').trim())
  return undefined
}

/** The file's token as of now; the last one read if the file is briefly unreadable or empty. */
function rereadingToken(file: string, initial: string): () => string {
  let last = initial
  return () => {
    const now = readOptional(file)?.trim()
    if (now) last = now
    return last
  }
}

async function viaClientNode(opts: ApiTargetOptions, reason: string): Promise<ApiTarget> {
  let mod: typeof import('./kube-config.ts')
  try {
    mod = await import('./kube-config.ts')
  } catch (err) {
    throw new InjectorError(ErrorCodes.ERR_CONFIG, `cannot load @kubernetes/client-node, needed because the ${reason}: ${(err as Error).message}`, { cause: err })
  }
  const target = mod.loadKubeTarget(opts)
  return { connection: mod.kubeConfigConnection(target.kubeConfig, reason), namespace: target.namespace, identity: target.identity, source: target.source }
}
