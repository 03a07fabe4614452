// What the apiserver (or the network) answered, as SecretStoreError kinds: shared by the node:https
// store (https-secret-store.ts) and the client-node stores. Messages name verb, object, namespace
// and identity, never Secret data.
import { SecretStoreError } from '../bootstrap/secret-store.ts'

export type Verb = 'get' | 'create' | 'update'

/** A non-2xx answer: status, body (a Kubernetes Status, as text or parsed) and headers. */
export interface FailedAnswer {
  readonly status: number
  readonly body: unknown
  readonly headers: unknown
}

export function storeErrorForAnswer(verb: Verb, name: string, namespace: string, identity: string, answer: FailedAnswer): SecretStoreError {
  const target = `${verb} Secret ${name} in namespace ${namespace}`
  const { status } = answer
  const apiMessage = statusMessage(answer.body)
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
    return new SecretStoreError('unavailable', `${target}: ${status}${said}`, { status, retryAfterMs: retryAfter(answer.headers) })
  }
  if (status === 404) return new SecretStoreError('failed', `${target}: 404 (does namespace ${namespace} exist?)${said}`, { status })
  return new SecretStoreError('failed', `${target}: ${status}${said}`, { status })
}

/** No answer at all: connection errors and timeouts are "unavailable" (retried), anything else "failed". */
export function storeErrorForException(verb: Verb, name: string, namespace: string, err: unknown): SecretStoreError {
  const target = `${verb} Secret ${name} in namespace ${namespace}`
  const code = networkCode(err)
  if (code !== undefined) return new SecretStoreError('unavailable', `${target}: ${code}`, { cause: err })
  return new SecretStoreError('failed', `${target}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`, { cause: err })
}

// Transient network failures: node:net/node:https codes, and undici's (client-node's fetch wraps
// them as TypeError('fetch failed') with a cause).
const TRANSIENT_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND',
  'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CLOSED',
])

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
