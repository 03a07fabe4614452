// Credentials and namespace as a @kubernetes/client-node KubeConfig: --kubeconfig/KUBECONFIG
// when given, else the pod's service account. The webhook's --serving-cert-mode=self uses it as
// it is; bootstrap-tls loads it (lazily, from api-target.ts) only for the kubeconfig shapes it
// does not read itself (exec, auth-provider, several files...). Environment and the service
// account directory are parameters, so tests need no real cluster and nothing here reads process.env.
import type { RequestOptions } from 'node:https'
import { isIPv6 } from 'node:net'
import { delimiter, join } from 'node:path'
import { KubeConfig } from '@kubernetes/client-node'
import { ErrorCodes, InjectorError } from '../errors.ts'
import type { ApiConnection, RequestSettings } from './api-target.ts'
import { pickNamespace, readOptional, SERVICE_ACCOUNT_DIR, serviceAccountFromToken } from './service-account.ts'

export { SERVICE_ACCOUNT_DIR, serviceAccountFromToken }

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

function kubeconfigIdentity(kubeConfig: KubeConfig): string {
  const user = kubeConfig.getCurrentUser()
  if (!user) return 'the kubeconfig\'s user'
  const subject = user.token ? serviceAccountFromToken(user.token) : undefined
  if (subject) return `service account "${subject}"`
  return `kubeconfig user "${user.username ?? user.name}"`
}

/**
 * The TLS options and headers client-node would use for a request (exec plugins, auth
 * providers, basic auth and proxies included), for the node:https client. Asked per request:
 * client-node caches what it can and refreshes expiring credentials itself.
 */
export function kubeConfigConnection(kubeConfig: KubeConfig, reason: string): ApiConnection {
  const cluster = kubeConfig.getCurrentCluster()
  if (!cluster) throw new InjectorError(ErrorCodes.ERR_CONFIG, 'kubeconfig has no current context with a cluster')
  return {
    server: new URL(cluster.server),
    via: 'client-node',
    fallbackReason: reason,
    async requestSettings(): Promise<RequestSettings> {
      const o: RequestOptions = {}
      await kubeConfig.applyToHTTPSOptions(o)
      const headers: Record<string, string> = {}
      for (const [key, value] of Object.entries(o.headers ?? {})) if (value !== undefined) headers[key.toLowerCase()] = String(value)
      const tls = Object.fromEntries(
        (['ca', 'cert', 'key', 'pfx', 'passphrase', 'rejectUnauthorized', 'servername'] as const).filter((k) => o[k] !== undefined && o[k] !== null).map((k) => [k, o[k]]),
      )
      return {
        tls,
        headers,
        ...(typeof o.auth === 'string' ? { auth: o.auth } : {}),
        // Only a proxy needs client-node's agent; otherwise the client's keep-alive agent serves.
        ...(cluster.proxyUrl && typeof o.agent === 'object' ? { agent: o.agent } : {}),
      }
    },
  }
}
