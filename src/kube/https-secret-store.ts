// SecretStore over node:https (api-client.ts), without @kubernetes/client-node: GET, POST
// (create-if-absent) and PUT with resourceVersion (guarded replace) on
// /api/v1/namespaces/<ns>/secrets. Errors become SecretStoreError kinds (store-errors.ts) with the
// same messages as the client-node store's; they name verb, Secret, namespace and identity, never data.
import type { V1Secret } from '@kubernetes/client-node'
import type { SecretWrite, StoredSecret } from '../bootstrap/secret-model.ts'
import { SecretStoreError, type SecretStore } from '../bootstrap/secret-store.ts'
import { createApiClient, type ApiAnswer } from './api-client.ts'
import type { ApiConnection } from './api-target.ts'
import { fromV1Secret, toV1Secret } from './secret-json.ts'
import { storeErrorForAnswer, storeErrorForException, type Verb } from './store-errors.ts'

export interface HttpsSecretStoreOptions {
  readonly connection: ApiConnection
  readonly namespace: string
  /** For 401/403 messages, e.g. `service account "projectcontour:contour"`. */
  readonly identity: string
  /** A request that takes longer is abandoned and counted as "unavailable" (retried). Default 15 s. */
  readonly requestTimeoutMs?: number
}

export interface ClosableSecretStore extends SecretStore {
  /** Closes the idle keep-alive connections. */
  close(): void
}

export function createHttpsSecretStore(opts: HttpsSecretStoreOptions): ClosableSecretStore {
  const { namespace, identity } = opts
  const client = createApiClient(opts.connection, { requestTimeoutMs: opts.requestTimeoutMs ?? 15_000 })
  const collection = `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets`

  const call = async (verb: Verb, name: string, method: 'GET' | 'POST' | 'PUT', path: string, body?: V1Secret): Promise<ApiAnswer> => {
    try {
      return await client.request(method, path, body)
    } catch (err) {
      throw storeErrorForException(verb, name, namespace, err)
    }
  }
  const secretOf = (verb: Verb, name: string, answer: ApiAnswer): StoredSecret => {
    if (answer.status < 200 || answer.status > 299) throw storeErrorForAnswer(verb, name, namespace, identity, answer)
    try {
      return fromV1Secret(JSON.parse(answer.body) as V1Secret)
    } catch (err) {
      throw new SecretStoreError('failed', `${verb} Secret ${name} in namespace ${namespace}: ${answer.status} with a body that is not JSON`, { status: answer.status, cause: err })
    }
  }

  return {
    async get(name) {
      const answer = await call('get', name, 'GET', `${collection}/${encodeURIComponent(name)}`)
      return answer.status === 404 ? undefined : secretOf('get', name, answer)
    },
    async create(secret: SecretWrite) {
      return secretOf('create', secret.name, await call('create', secret.name, 'POST', collection, toV1Secret(secret, namespace)))
    },
    async replace(secret: SecretWrite, resourceVersion: string) {
      const body = toV1Secret(secret, namespace, resourceVersion)
      return secretOf('update', secret.name, await call('update', secret.name, 'PUT', `${collection}/${encodeURIComponent(secret.name)}`, body))
    },
    async recordEvent(event) {
      const now = new Date().toISOString()
      const body = {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { generateName: `${event.secretName}.`, namespace },
        involvedObject: { apiVersion: 'v1', kind: 'Secret', name: event.secretName, namespace },
        type: event.type,
        reason: event.reason,
        message: event.message,
        source: { component: 'contour-tls-injector' },
        reportingComponent: 'contour-tls-injector',
        reportingInstance: process.env.HOSTNAME ?? 'bootstrap-tls',
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      }
      try {
        await client.request('POST', `/api/v1/namespaces/${encodeURIComponent(namespace)}/events`, body as unknown as V1Secret)
      } catch {
        // Events are a courtesy: a missing grant or a blip must not stop the set.
      }
    },
    close: () => client.close(),
  }
}
