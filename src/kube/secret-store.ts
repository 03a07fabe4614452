// SecretStore over @kubernetes/client-node's CoreV1Api: GET, POST (create-if-absent) and PUT
// with resourceVersion (guarded replace) on /api/v1/namespaces/<ns>/secrets. Errors become
// SecretStoreError kinds; messages name verb, Secret, namespace and identity, never data.
import {
  ApiException,
  CoreV1Api,
  type KubeConfig,
  Observable,
  type ObservableMiddleware,
  type RequestContext,
  type ResponseContext,
  type V1Secret,
} from '@kubernetes/client-node'
import type { SecretWrite, StoredSecret } from '../bootstrap/secret-model.ts'
import { SecretStoreError, type SecretStore } from '../bootstrap/secret-store.ts'

export interface KubeSecretStoreOptions {
  readonly kubeConfig: KubeConfig
  readonly namespace: string
  /** For 401/403 messages, e.g. `service account "projectcontour:contour"`. */
  readonly identity: string
  /** A request that takes longer is abandoned and counted as "unavailable" (retried). */
  readonly requestTimeoutMs?: number
}

type Verb = 'get' | 'create' | 'update'
type CallOptions = Parameters<CoreV1Api['readNamespacedSecret']>[1]

export function createKubeSecretStore(opts: KubeSecretStoreOptions): SecretStore {
  const api = opts.kubeConfig.makeApiClient(CoreV1Api)
  const { namespace } = opts
  const timeoutMs = opts.requestTimeoutMs ?? 15_000
  // The object-parameter API passes per-call middleware straight to the observable layer.
  const timeout: ObservableMiddleware = {
    pre: (ctx: RequestContext) => {
      ctx.setSignal(AbortSignal.timeout(timeoutMs))
      return new Observable(Promise.resolve(ctx))
    },
    post: (res: ResponseContext) => new Observable(Promise.resolve(res)),
  }
  const options: CallOptions = { middleware: [timeout], middlewareMergeStrategy: 'append' }
  const fail = (verb: Verb, name: string, err: unknown): never => {
    throw toStoreError(verb, name, namespace, opts.identity, err)
  }
  return {
    async get(name) {
      try {
        return fromV1Secret(await api.readNamespacedSecret({ name, namespace }, options))
      } catch (err) {
        if (err instanceof ApiException && err.code === 404) return undefined
        return fail('get', name, err)
      }
    },
    async create(secret) {
      try {
        return fromV1Secret(await api.createNamespacedSecret({ namespace, body: toV1Secret(secret, namespace) }, options))
      } catch (err) {
        return fail('create', secret.name, err)
      }
    },
    async replace(secret, resourceVersion) {
      try {
        const body = toV1Secret(secret, namespace, resourceVersion)
        return fromV1Secret(await api.replaceNamespacedSecret({ name: secret.name, namespace, body }, options))
      } catch (err) {
        return fail('update', secret.name, err)
      }
    },
  }
}

export function toV1Secret(secret: SecretWrite, namespace: string, resourceVersion?: string): V1Secret {
  const data: Record<string, string> = {}
  for (const [key, value] of Object.entries(secret.data)) data[key] = value.toString('base64')
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: secret.name, namespace, labels: { ...secret.labels }, annotations: { ...secret.annotations }, ...(resourceVersion ? { resourceVersion } : {}) },
    type: secret.type,
    data,
  }
}

export function fromV1Secret(secret: V1Secret): StoredSecret {
  const data: Record<string, Buffer> = {}
  for (const [key, value] of Object.entries(secret.data ?? {})) data[key] = Buffer.from(value, 'base64')
  return {
    name: secret.metadata?.name ?? '',
    type: secret.type ?? 'Opaque',
    data,
    labels: secret.metadata?.labels ?? {},
    annotations: secret.metadata?.annotations ?? {},
    resourceVersion: secret.metadata?.resourceVersion ?? '',
  }
}

// Transient network failures (undici wraps them as TypeError('fetch failed') with a cause).
const TRANSIENT_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND',
  'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CLOSED',
])

export function toStoreError(verb: Verb, name: string, namespace: string, identity: string, err: unknown): SecretStoreError {
  const target = `${verb} Secret ${name} in namespace ${namespace}`
  if (err instanceof ApiException) {
    const status = err.code
    const apiMessage = statusMessage(err.body)
    const said = apiMessage ? ` (the API said: ${apiMessage})` : ''
    if (status === 409) return new SecretStoreError(verb === 'create' ? 'already-exists' : 'conflict', `${target}: 409${said}`, { status })
    if (status === 404 && verb === 'update') return new SecretStoreError('not-found', `${target}: 404${said}`, { status })
    if (status === 401) {
      return new SecretStoreError('unauthorized', `${target}: 401 Unauthorized: the API rejected the credentials of ${identity} (expired or invalid token?)${said}`, { status })
    }
    if (status === 403) {
      return new SecretStoreError(
        'forbidden',
        `${target}: 403 Forbidden: ${identity} may not "${verb}" resource "secrets" in namespace "${namespace}"; ` +
          `grant it with a Role allowing verb "${verb}" on secrets${verb === 'create' ? '' : ` (resourceNames may list "${name}")`} and a RoleBinding${said}`,
        { status },
      )
    }
    if (status === 429 || status >= 500) {
      return new SecretStoreError('unavailable', `${target}: ${status}${said}`, { status, retryAfterMs: retryAfter(err.headers) })
    }
    if (status === 404) return new SecretStoreError('failed', `${target}: 404 (does namespace ${namespace} exist?)${said}`, { status })
    return new SecretStoreError('failed', `${target}: ${status}${said}`, { status })
  }
  const code = networkCode(err)
  if (code !== undefined) return new SecretStoreError('unavailable', `${target}: ${code}`, { cause: err })
  return new SecretStoreError('failed', `${target}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`, { cause: err })
}

function networkCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e.name === 'TimeoutError' || e.name === 'AbortError') return 'request timed out'
    const code = (e as NodeJS.ErrnoException).code
    if (code !== undefined && TRANSIENT_CODES.has(code)) return code
  }
  return undefined
}

/** The `message` of a Kubernetes Status body (it names objects, never Secret data). */
function statusMessage(body: unknown): string | undefined {
  let parsed = body
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body)
    } catch {
      return body.slice(0, 200)
    }
  }
  const message = typeof parsed === 'object' && parsed !== null ? (parsed as { message?: unknown }).message : undefined
  return typeof message === 'string' ? message.slice(0, 500) : undefined
}

function retryAfter(headers: unknown): number | undefined {
  const raw = typeof headers === 'object' && headers !== null ? (headers as Record<string, unknown>)['retry-after'] : undefined
  const seconds = typeof raw === 'string' ? Number(raw) : NaN
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined
}
