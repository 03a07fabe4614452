// Wires `--serving-cert-mode=self` to Kubernetes: credentials and namespace as bootstrap-tls
// finds them (service account, or --kubeconfig), the Secret store bootstrap-tls uses, and the
// webhook configuration store. Loaded lazily by the webhook so `files` mode never loads it.
import { loadKubeTarget } from '../kube/kube-config.ts'
import { createKubeSecretStore } from '../kube/secret-store.ts'
import { lifetimeDaysToMs, servingIdentity } from './issue-serving-cert.ts'
import { startServingCert, type ServingCertHandle, type ServingCertOptions } from './serving-cert-manager.ts'
import { createKubeWebhookConfigurationStore } from './webhook-configuration-store.ts'

export interface SelfModeSettings {
  readonly secretName: string
  readonly serviceName: string
  /** --service-namespace or POD_NAMESPACE; else the service account's namespace. */
  readonly namespace: string | undefined
  readonly webhookConfigurationName: string
  readonly extraSans: readonly string[]
  readonly lifetimeDays: number
  readonly kubeconfig: string | undefined
}

/** Test and tuning knobs; production passes none. */
export type SelfModeTuning = Partial<Pick<ServingCertOptions, 'clock' | 'startTimeoutMs' | 'syncIntervalMs' | 'settleMs' | 'retryMs' | 'keyBits' | 'issue'>> & {
  readonly serviceAccountDir?: string
  /** Overrides the lifetime from the settings, in ms (tests renew in seconds). */
  readonly lifetimeMs?: number
}

export interface SelfModeDeps {
  readonly env: Readonly<Record<string, string | undefined>>
  readonly log: ServingCertOptions['log']
  readonly onReload: ServingCertOptions['onReload']
  readonly onError?: ServingCertOptions['onError']
  readonly signal?: AbortSignal
  readonly tuning?: SelfModeTuning
}

export async function startSelfServingCert(settings: SelfModeSettings, deps: SelfModeDeps): Promise<{ handle: ServingCertHandle; namespace: string; identity: string }> {
  const tuning = deps.tuning ?? {}
  const target = loadKubeTarget({ kubeconfig: settings.kubeconfig, namespace: settings.namespace, env: deps.env, serviceAccountDir: tuning.serviceAccountDir })
  const identity = servingIdentity(settings.serviceName, target.namespace, settings.extraSans)
  deps.log.info(
    `serving certificate mode self: Secret ${target.namespace}/${settings.secretName}, MutatingWebhookConfiguration ${settings.webhookConfigurationName}, ` +
      `names ${[...identity.dnsNames, ...identity.ipAddresses].join(', ')}, credentials of ${target.identity}`,
  )
  const handle = await startServingCert(
    {
      secrets: createKubeSecretStore({ kubeConfig: target.kubeConfig, namespace: target.namespace, identity: target.identity }),
      webhooks: createKubeWebhookConfigurationStore({ kubeConfig: target.kubeConfig, name: settings.webhookConfigurationName, identity: target.identity }),
      secretName: settings.secretName,
      identity,
      lifetimeMs: tuning.lifetimeMs ?? lifetimeDaysToMs(settings.lifetimeDays),
      log: deps.log,
      onReload: deps.onReload,
      onError: deps.onError,
      clock: tuning.clock,
      startTimeoutMs: tuning.startTimeoutMs,
      syncIntervalMs: tuning.syncIntervalMs,
      settleMs: tuning.settleMs,
      retryMs: tuning.retryMs,
      keyBits: tuning.keyBits,
      issue: tuning.issue,
    },
    deps.signal,
  )
  return { handle, namespace: target.namespace, identity: target.identity }
}
