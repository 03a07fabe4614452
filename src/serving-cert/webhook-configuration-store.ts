// The webhook's own MutatingWebhookConfiguration, read (GET) and given its caBundle by
// server-side apply under our field manager: the apply names only
// `webhooks[name=...].clientConfig.caBundle`, so Helm, Argo CD and Flux keep owning (and not
// diffing) every other field. metadata.resourceVersion in the apply is a precondition: an apply
// based on a stale read gets 409 and is retried from a fresh read (see sync-ca-bundle.ts).
import { timeoutMiddleware } from '../kube/timeout-middleware.ts'
import {
  AdmissionregistrationV1Api,
  ApiException,
  type ConfigurationOptions,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1MutatingWebhookConfiguration,
} from '@kubernetes/client-node'
import { SecretStoreError } from '../bootstrap/secret-store.ts'
import { toStoreError } from '../kube/secret-store.ts'
import { InjectorError } from '../errors.ts'
import { FIELD_MANAGER, ServingCertErrorCodes } from './types.ts'

export interface WebhookConfigurationView {
  readonly resourceVersion: string
  /** Each webhook's name and its caBundle decoded to PEM text ('' when unset). */
  readonly webhooks: ReadonlyArray<{ readonly name: string; readonly caBundle: string }>
}

export interface WebhookConfigurationStore {
  readonly name: string
  get(): Promise<WebhookConfigurationView>
  /** Applies `bundle` as the caBundle of the named webhooks; 409 (kind 'conflict') when resourceVersion is stale. */
  applyCaBundle(resourceVersion: string, webhookNames: readonly string[], bundle: string): Promise<WebhookConfigurationView>
}

export interface KubeWebhookConfigurationStoreOptions {
  readonly kubeConfig: KubeConfig
  readonly name: string
  readonly identity: string
  readonly requestTimeoutMs?: number
}

export function createKubeWebhookConfigurationStore(opts: KubeWebhookConfigurationStoreOptions): WebhookConfigurationStore {
  const api = opts.kubeConfig.makeApiClient(AdmissionregistrationV1Api)
  const { name } = opts
  const timeoutMs = opts.requestTimeoutMs ?? 15_000
  const timeout = timeoutMiddleware(timeoutMs)
  const options: ConfigurationOptions = { middleware: [timeout], middlewareMergeStrategy: 'append' }
  const applyOptions = setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply, options)
  return {
    name,
    async get() {
      try {
        return toView(await api.readMutatingWebhookConfiguration({ name }, options))
      } catch (err) {
        throw toError('get', name, opts.identity, err)
      }
    },
    async applyCaBundle(resourceVersion, webhookNames, bundle) {
      const body = {
        apiVersion: 'admissionregistration.k8s.io/v1',
        kind: 'MutatingWebhookConfiguration',
        metadata: { name, resourceVersion },
        webhooks: webhookNames.map((webhook) => ({ name: webhook, clientConfig: { caBundle: Buffer.from(bundle).toString('base64') } })),
      }
      try {
        return toView(await api.patchMutatingWebhookConfiguration({ name, body, fieldManager: FIELD_MANAGER, force: true }, applyOptions))
      } catch (err) {
        throw toError('patch', name, opts.identity, err)
      }
    },
  }
}

function toView(mwc: V1MutatingWebhookConfiguration): WebhookConfigurationView {
  return {
    resourceVersion: mwc.metadata?.resourceVersion ?? '',
    webhooks: (mwc.webhooks ?? []).map((w) => ({ name: w.name, caBundle: w.clientConfig.caBundle ? Buffer.from(w.clientConfig.caBundle, 'base64').toString('utf8') : '' })),
  }
}

/** The Secret store's error kinds (so withRetry retries what is transient), with this object's wording. */
function toError(verb: 'get' | 'patch', name: string, identity: string, err: unknown): Error {
  const target = `${verb} MutatingWebhookConfiguration ${name}`
  if (err instanceof ApiException && err.code === 404) {
    return new InjectorError(
      ServingCertErrorCodes.ERR_WEBHOOK_CONFIGURATION_NOT_FOUND,
      `${target}: 404: it does not exist; --webhook-configuration-name must name the chart's MutatingWebhookConfiguration`,
    )
  }
  if (err instanceof ApiException && err.code === 403) {
    return new SecretStoreError(
      'forbidden',
      `${target}: 403 Forbidden: ${identity} may not "${verb}" mutatingwebhookconfigurations.admissionregistration.k8s.io "${name}"; ` +
        `grant it with a ClusterRole allowing verbs "get" and "patch" (resourceNames may list "${name}") and a ClusterRoleBinding`,
      { status: 403 },
    )
  }
  // Reuse the Secret store's classification (409, 401, 5xx/429, network errors), renamed.
  const mapped = toStoreError(verb === 'patch' ? 'update' : 'get', name, '-', identity, err)
  const message = mapped.message.replace(/^(get|update) Secret \S+ in namespace -/, target)
  return new SecretStoreError(mapped.kind, message, { status: mapped.status, retryAfterMs: mapped.retryAfterMs, cause: err })
}
