// SecretStore over @kubernetes/client-node's CoreV1Api: GET, POST (create-if-absent) and PUT
// with resourceVersion (guarded replace) on /api/v1/namespaces/<ns>/secrets. Errors become
// SecretStoreError kinds; messages name verb, Secret, namespace and identity, never data.
// bootstrap-tls uses https-secret-store.ts (no client-node); this one serves the webhook's
// --serving-cert-mode=self, which needs client-node for its other API calls anyway.
import { timeoutMiddleware } from './timeout-middleware.ts'
import {
  ApiException,
  CoreV1Api,
  type KubeConfig,
} from '@kubernetes/client-node'
import type { SecretStore, SecretStoreError } from '../bootstrap/secret-store.ts'
import { fromV1Secret, toV1Secret } from './secret-json.ts'
import { storeErrorForAnswer, storeErrorForException, type Verb } from './store-errors.ts'

export { fromV1Secret, toV1Secret }

export interface KubeSecretStoreOptions {
  readonly kubeConfig: KubeConfig
  readonly namespace: string
  /** For 401/403 messages, e.g. `service account "projectcontour:contour"`. */
  readonly identity: string
  /** A request that takes longer is abandoned and counted as "unavailable" (retried). */
  readonly requestTimeoutMs?: number
}

type CallOptions = Parameters<CoreV1Api['readNamespacedSecret']>[1]

export function createKubeSecretStore(opts: KubeSecretStoreOptions): SecretStore {
  const api = opts.kubeConfig.makeApiClient(CoreV1Api)
  const { namespace } = opts
  const timeoutMs = opts.requestTimeoutMs ?? 15_000
  const timeout = timeoutMiddleware(timeoutMs)
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

/** The client-node flavour of the shared mapping: an ApiException is an answer, anything else was not. */
export function toStoreError(verb: Verb, name: string, namespace: string, identity: string, err: unknown): SecretStoreError {
  if (err instanceof ApiException) return storeErrorForAnswer(verb, name, namespace, identity, { status: err.code, body: err.body, headers: err.headers })
  return storeErrorForException(verb, name, namespace, err)
}
