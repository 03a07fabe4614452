// Where the Contour role's API credentials and namespace come from: --kubeconfig/KUBECONFIG
// when given, else the pod's service account. Environment and the service account directory
// are parameters, so tests need no real cluster and nothing here reads process.env.
import { readFileSync } from 'node:fs'
import { isIPv6 } from 'node:net'
import { delimiter, join } from 'node:path'
import { KubeConfig } from '@kubernetes/client-node'
import { ErrorCodes, InjectorError } from '../errors.ts'

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount'

export interface KubeTarget {
  readonly kubeConfig: KubeConfig
  readonly namespace: string
  /** Who we act as, for 401/403 messages: `service account "ns:name"` or `kubeconfig user "x"`. */
  readonly identity: string
  readonly source: 'in-cluster' | 'kubeconfig'
}

export interface LoadKubeTargetOptions {
  /** --kubeconfig, or KUBECONFIG (a list separated by the path delimiter, merged like kubectl). */
  readonly kubeconfig: string | undefined
  /** --namespace, or POD_NAMESPACE. */
  readonly namespace: string | undefined
  readonly env: Readonly<Record<string, string | undefined>>
  readonly serviceAccountDir?: string
}

export function loadKubeTarget(opts: LoadKubeTargetOptions): KubeTarget {
  const saDir = opts.serviceAccountDir ?? SERVICE_ACCOUNT_DIR
  const saNamespace = readOptional(join(saDir, 'namespace'))?.trim()
  if (opts.kubeconfig !== undefined && opts.kubeconfig !== '') {
    const kubeConfig = loadKubeconfigFiles(opts.kubeconfig)
    const context = kubeConfig.getContextObject(kubeConfig.getCurrentContext())
    const namespace = pickNamespace(opts.namespace, saNamespace, context?.namespace)
    return { kubeConfig, namespace, identity: kubeconfigIdentity(kubeConfig), source: 'kubeconfig' }
  }
  const host = opts.env.KUBERNETES_SERVICE_HOST
  const port = opts.env.KUBERNETES_SERVICE_PORT
  const tokenFile = join(saDir, 'token')
  const token = readOptional(tokenFile)
  if (!host || !port || token === undefined) {
    throw new InjectorError(
      ErrorCodes.ERR_CONFIG,
      `no Kubernetes credentials: not in a cluster (${!host || !port ? 'KUBERNETES_SERVICE_HOST/PORT unset' : `no token at ${tokenFile}`}) and no --kubeconfig or KUBECONFIG`,
    )
  }
  const kubeConfig = new KubeConfig()
  const scheme = port === '80' || port === '8080' || port === '8001' ? 'http' : 'https'
  kubeConfig.loadFromClusterAndUser(
    { name: 'in-cluster', server: `${scheme}://${isIPv6(host) ? `[${host}]` : host}:${port}`, caFile: join(saDir, 'ca.crt'), skipTLSVerify: false },
    // tokenFile re-reads the projected token, which the kubelet rotates.
    { name: 'service-account', authProvider: { name: 'tokenFile', config: { tokenFile } } },
  )
  const namespace = pickNamespace(opts.namespace, saNamespace, undefined)
  const subject = serviceAccountFromToken(token)
  return { kubeConfig, namespace, identity: subject ? `service account "${subject}"` : 'the pod\'s service account', source: 'in-cluster' }
}

function loadKubeconfigFiles(list: string): KubeConfig {
  const files = list.split(delimiter).filter((f) => f !== '')
  const kubeConfig = new KubeConfig()
  try {
    files.forEach((file, i) => {
      if (i === 0) return kubeConfig.loadFromFile(file)
      const more = new KubeConfig()
      more.loadFromFile(file)
      kubeConfig.mergeConfig(more, true) // like kubectl: the first file that sets current-context wins
    })
  } catch (err) {
    throw new InjectorError(ErrorCodes.ERR_CONFIG, `cannot load kubeconfig ${list}: ${(err as Error).message}`, { cause: err })
  }
  if (!kubeConfig.getCurrentCluster()) throw new InjectorError(ErrorCodes.ERR_CONFIG, `kubeconfig ${list} has no current context with a cluster`)
  return kubeConfig
}

function pickNamespace(...candidates: Array<string | undefined>): string {
  const namespace = candidates.find((c) => c !== undefined && c !== '')
  if (namespace === undefined) {
    throw new InjectorError(ErrorCodes.ERR_CONFIG, 'no namespace: give --namespace, set POD_NAMESPACE, or run with a service account')
  }
  return namespace
}

function kubeconfigIdentity(kubeConfig: KubeConfig): string {
  const user = kubeConfig.getCurrentUser()
  if (!user) return 'the kubeconfig\'s user'
  const subject = user.token ? serviceAccountFromToken(user.token) : undefined
  if (subject) return `service account "${subject}"`
  return `kubeconfig user "${user.username ?? user.name}"`
}

/** `ns:name` from a service account JWT's `sub` claim (`system:serviceaccount:<ns>:<name>`). */
export function serviceAccountFromToken(token: string): string | undefined {
  const payload = token.trim().split('.')[1]
  if (payload === undefined) return undefined
  try {
    const claims: unknown = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'))
    const sub = typeof claims === 'object' && claims !== null ? (claims as { sub?: unknown }).sub : undefined
    const match = typeof sub === 'string' ? /^system:serviceaccount:([^:]+):([^:]+)$/.exec(sub) : null
    return match ? `${match[1]}:${match[2]}` : undefined
  } catch {
    return undefined
  }
}

function readOptional(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return undefined
  }
}
