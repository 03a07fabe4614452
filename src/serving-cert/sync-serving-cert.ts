// One round of the self mode: read the webhook configuration, ensure the serving Secret, and
// publish the trust bundle the Secret implies as the caBundle of every webhook in it.
//
// Why the configuration is read BEFORE the Secret: the apply carries the configuration's
// resourceVersion as a precondition. If another replica renewed the Secret and published the
// new bundle after our read of the configuration, our apply fails with 409 and the round starts
// again; if it published before, we read the renewed Secret too. Either way a stale replica can
// never take the new CA back out of the caBundle.
import { withRetry } from '../bootstrap/retry.ts'
import { isStoreError } from '../bootstrap/secret-store.ts'
import { InjectorError } from '../errors.ts'
import { splitCertificates } from '../core/certs/pem-bundle.ts'
import { buildTrustBundle, sameBundle } from './ca-bundle.ts'
import { ensureServingSecret, type EnsuredServingSecret, type EnsureServingOptions } from './ensure-serving-secret.ts'
import { ServingCertErrorCodes } from './types.ts'
import type { WebhookConfigurationStore, WebhookConfigurationView } from './webhook-configuration-store.ts'

export interface SyncOptions extends EnsureServingOptions {
  readonly webhooks: WebhookConfigurationStore
}

export interface SyncResult extends EnsuredServingSecret {
  /** The configuration as stored after this round. */
  readonly view: WebhookConfigurationView
  /** True when this round changed the caBundle. */
  readonly applied: boolean
}

const MAX_ROUNDS = 10

export async function syncServingCert(opts: SyncOptions): Promise<SyncResult> {
  const { clock, log } = opts
  const call = <T>(what: string, op: () => Promise<T>): Promise<T> => withRetry(what, op, { clock, deadline: opts.deadline, signal: opts.signal, log })
  const target = `MutatingWebhookConfiguration ${opts.webhooks.name}`
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const view = await call(`get ${target}`, () => waitForConfiguration(opts))
    if (view.webhooks.length === 0) throw new InjectorError(ServingCertErrorCodes.ERR_WEBHOOK_CONFIGURATION_NOT_FOUND, `${target} has no webhooks`)
    const ensured = await ensureServingSecret(opts)
    const bundle = buildTrustBundle(ensured.material, new Date(clock.now()))
    if (view.webhooks.every((w) => sameBundle(w.caBundle, bundle))) return { ...ensured, view, applied: false }
    const names = view.webhooks.map((w) => w.name)
    try {
      const after = await call(`apply the caBundle of ${target}`, () => opts.webhooks.applyCaBundle(view.resourceVersion, names, bundle))
      log(`published a caBundle of ${splitCertificates(bundle).length} CA certificate(s) to ${target} (webhooks ${names.join(', ')})`)
      return { ...ensured, view: after, applied: true }
    } catch (err) {
      if (!isStoreError(err, 'conflict')) throw err
      log(`${target} changed since it was read; reading it and the Secret again`)
      await clock.sleep(50 + clock.random() * 150, opts.signal)
    }
  }
  throw new InjectorError(ServingCertErrorCodes.ERR_SERVING_CERT, `${target} kept changing under us (${MAX_ROUNDS} rounds)`)
}

/**
 * Helm creates the MutatingWebhookConfiguration after the Deployment, so a fast first pod may
 * not find it yet: wait for it (with progress) until the deadline rather than crash-loop.
 */
async function waitForConfiguration(opts: SyncOptions): Promise<WebhookConfigurationView> {
  let lastLog = -Infinity
  for (;;) {
    try {
      return await opts.webhooks.get()
    } catch (err) {
      const now = opts.clock.now()
      if ((err as InjectorError).code !== ServingCertErrorCodes.ERR_WEBHOOK_CONFIGURATION_NOT_FOUND || now + 1000 > opts.deadline) throw err
      if (now - lastLog >= 5000) {
        opts.log(`waiting for MutatingWebhookConfiguration ${opts.webhooks.name} to exist`)
        lastLog = now
      }
      await opts.clock.sleep(1000, opts.signal)
    }
  }
}
