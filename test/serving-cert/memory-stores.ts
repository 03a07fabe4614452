// In-memory stand-ins for the Secret store and the webhook configuration store, with the
// apiserver semantics the self mode relies on (409 on create of an existing object, 409 on a
// write with a stale resourceVersion). For units of logic only: self-mode.test.ts proves the
// same against a real kube-apiserver.
import { SecretStoreError, type SecretStore } from '../../src/bootstrap/secret-store.ts'
import type { StoredSecret } from '../../src/bootstrap/secret-model.ts'
import type { WebhookConfigurationStore, WebhookConfigurationView } from '../../src/serving-cert/webhook-configuration-store.ts'

export interface MemoryCluster {
  readonly secrets: SecretStore & { readonly objects: Map<string, StoredSecret> }
  readonly webhooks: WebhookConfigurationStore & {
    view: WebhookConfigurationView
    /** Every published caBundle with the time it was stored. */
    readonly history: Array<{ at: number; bundle: string }>
  }
}

export function memoryCluster(webhookNames: readonly string[], name = 'cti'): MemoryCluster {
  let rv = 1
  const objects = new Map<string, StoredSecret>()
  const secrets = {
    objects,
    async get(n: string) {
      return objects.get(n)
    },
    async create(write: Parameters<SecretStore['create']>[0]) {
      if (objects.has(write.name)) throw new SecretStoreError('already-exists', `create Secret ${write.name}: 409`, { status: 409 })
      const stored = { ...write, resourceVersion: String(++rv) }
      objects.set(write.name, stored)
      return stored
    },
    async replace(write: Parameters<SecretStore['replace']>[0], resourceVersion: string) {
      const existing = objects.get(write.name)
      if (existing === undefined) throw new SecretStoreError('not-found', `update Secret ${write.name}: 404`, { status: 404 })
      if (existing.resourceVersion !== resourceVersion) throw new SecretStoreError('conflict', `update Secret ${write.name}: 409`, { status: 409 })
      const stored = { ...write, resourceVersion: String(++rv) }
      objects.set(write.name, stored)
      return stored
    },
  }
  const history: Array<{ at: number; bundle: string }> = []
  const webhooks = {
    name,
    history,
    view: { resourceVersion: String(++rv), webhooks: webhookNames.map((n) => ({ name: n, caBundle: '' })) } as WebhookConfigurationView,
    async get() {
      return webhooks.view
    },
    async applyCaBundle(resourceVersion: string, names: readonly string[], bundle: string) {
      if (resourceVersion !== webhooks.view.resourceVersion) throw new SecretStoreError('conflict', `patch MutatingWebhookConfiguration ${name}: 409`, { status: 409 })
      webhooks.view = {
        resourceVersion: String(++rv),
        webhooks: webhooks.view.webhooks.map((w) => (names.includes(w.name) ? { ...w, caBundle: bundle } : w)),
      }
      history.push({ at: Date.now(), bundle })
      return webhooks.view
    },
  }
  return { secrets, webhooks }
}
