// Parses the webhook's flags and environment once, validates them, and freezes the result.
// Bad configuration stops start-up with a message that names the flag.
import { isIP } from 'node:net'
import { InjectorError } from '../errors.ts'
import { formatHelp, parseFlags, type FlagSpec } from '../cli/parse-flags.ts'
import type { SelfModeSettings } from '../serving-cert/start-self.ts'
import {
  BootstrapModes,
  DEFAULT_BOOTSTRAP_MODE,
  DEFAULT_EXISTING_TLS,
  DEFAULT_MOUNT_ROOT,
  DEFAULT_SECRET_NAMES,
  ExistingTlsPolicies,
  type BootstrapMode,
  type ExistingTlsPolicy,
  type InjectionSettings,
} from '../core/injection/types.ts'
import { DEFAULT_IMAGE, VERSION } from '../version.ts'
import { DEFAULT_SERVICE_NAME, DEFAULT_SERVING_LIFETIME_DAYS, DEFAULT_SERVING_SECRET, DEFAULT_WEBHOOK_CONFIGURATION } from '../serving-cert/types.ts'

export const webhookFlags = {
  host: { type: 'string', env: 'CONTOUR_TLS_INJECTOR_HOST', default: '0.0.0.0', help: 'Address to listen on' },
  port: { type: 'string', env: 'CONTOUR_TLS_INJECTOR_PORT', default: '8443', help: 'HTTPS port' },
  'serving-cert-mode': { type: 'string', env: 'CONTOUR_TLS_INJECTOR_SERVING_CERT_MODE', default: 'files', help: 'files: --tls-cert-file/--tls-key-file; self: keep a CA and certificate in --serving-cert-secret and their CA in the caBundle of --webhook-configuration-name, renewed and reloaded in place' },
  'tls-cert-file': { type: 'string', env: 'CONTOUR_TLS_INJECTOR_TLS_CERT_FILE', help: 'Serving certificate (PEM); reloaded when it changes' },
  'tls-key-file': { type: 'string', env: 'CONTOUR_TLS_INJECTOR_TLS_KEY_FILE', help: 'Serving private key (PEM); reloaded when it changes' },
  dev: { type: 'boolean', env: 'CONTOUR_TLS_INJECTOR_DEV', default: false, help: 'Generate a development certificate for 127.0.0.1 and localhost (listens on 127.0.0.1 unless --host is given)' },
  'dev-cert-dir': { type: 'string', env: 'CONTOUR_TLS_INJECTOR_DEV_CERT_DIR', help: 'Where --dev writes its CA and certificate (default: a fresh temporary directory)' },
  'serving-cert-secret': { type: 'string', env: 'CONTOUR_TLS_INJECTOR_SERVING_CERT_SECRET', default: DEFAULT_SERVING_SECRET, help: 'self mode: the Secret (in --service-namespace) holding the serving certificate, its CA and the previous CA' },
  'service-name': { type: 'string', env: 'CONTOUR_TLS_INJECTOR_SERVICE_NAME', default: DEFAULT_SERVICE_NAME, help: 'self mode: the webhook Service; the certificate covers <svc>, <svc>.<ns>, <svc>.<ns>.svc, <svc>.<ns>.svc.cluster.local' },
  'service-namespace': { type: 'string', env: 'POD_NAMESPACE', help: 'self mode: namespace of the Service and the Secret (default POD_NAMESPACE, else the service account\'s namespace)' },
  'webhook-configuration-name': { type: 'string', env: 'CONTOUR_TLS_INJECTOR_WEBHOOK_CONFIGURATION_NAME', default: DEFAULT_WEBHOOK_CONFIGURATION, help: 'self mode: the MutatingWebhookConfiguration whose caBundle fields are server-side applied (field manager contour-tls-injector)' },
  'serving-cert-extra-sans': { type: 'string', env: 'CONTOUR_TLS_INJECTOR_SERVING_CERT_EXTRA_SANS', help: 'self mode: comma-separated extra DNS names or IPs for the certificate (e.g. 127.0.0.1 with a URL webhook)' },
  'serving-cert-lifetime-days': { type: 'string', env: 'CONTOUR_TLS_INJECTOR_SERVING_CERT_LIFETIME_DAYS', default: String(DEFAULT_SERVING_LIFETIME_DAYS), help: 'self mode: lifetime of a new CA and certificate; renewed when a third of it is left' },
  kubeconfig: { type: 'string', env: 'KUBECONFIG', help: 'self mode: kubeconfig to use instead of the in-cluster service account' },
  image: { type: 'string', env: 'CONTOUR_TLS_INJECTOR_IMAGE', default: DEFAULT_IMAGE, help: 'Image of the injected bootstrap-tls init container' },
  'image-pull-policy': { type: 'string', env: 'CONTOUR_TLS_INJECTOR_IMAGE_PULL_POLICY', default: 'IfNotPresent', help: 'Always, IfNotPresent or Never' },
  'contour-secret': { type: 'string', env: 'CONTOUR_TLS_INJECTOR_CONTOUR_SECRET', default: DEFAULT_SECRET_NAMES.contour, help: 'Secret with the Contour server certificate' },
  'envoy-secret': { type: 'string', env: 'CONTOUR_TLS_INJECTOR_ENVOY_SECRET', default: DEFAULT_SECRET_NAMES.envoy, help: 'Secret with the Envoy client certificate' },
  'ca-secret': { type: 'string', env: 'CONTOUR_TLS_INJECTOR_CA_SECRET', default: DEFAULT_SECRET_NAMES.ca, help: 'Secret with the CA certificate' },
  'existing-tls': { type: 'string', env: 'CONTOUR_TLS_INJECTOR_EXISTING_TLS', default: DEFAULT_EXISTING_TLS, help: 'TLS that pods already have: certgen (take over contour certgen\'s Secrets contourcert<S>, envoycert<S>, cacert<S>), all (any complete TLS on Secret volumes) or keep (never take over)' },
  'bootstrap-mode': { type: 'string', env: 'CONTOUR_TLS_INJECTOR_BOOTSTRAP_MODE', default: DEFAULT_BOOTSTRAP_MODE, help: 'How Contour pods run bootstrap-tls: init (an init container that exits; renewal at pod start) or sidecar (a native sidecar with a startup probe that renews while the pod runs; Kubernetes >= 1.29). Envoy pods are the same in both' },
  'mount-root': { type: 'string', env: 'CONTOUR_TLS_INJECTOR_MOUNT_ROOT', default: DEFAULT_MOUNT_ROOT, help: 'Directory under which the three Secret volumes are mounted' },
  'drain-seconds': { type: 'string', env: 'CONTOUR_TLS_INJECTOR_DRAIN_SECONDS', default: '15', help: 'After SIGTERM: seconds to keep serving while readiness reports not ready' },
  'log-level': { type: 'string', env: 'CONTOUR_TLS_INJECTOR_LOG_LEVEL', default: 'info', help: 'fatal, error, warn, info, debug or trace' },
  help: { type: 'boolean', help: 'Show this help' },
} as const satisfies Record<string, FlagSpec>

export const webhookHelp = formatHelp('Usage: contour-tls-injector webhook [flags]\n\nServes POST /mutate (AdmissionReview v1), GET /healthz, /readyz and /metrics over HTTPS.', webhookFlags)

export interface WebhookConfig {
  readonly host: string
  readonly port: number
  readonly tls:
    | { readonly mode: 'files'; readonly certFile: string; readonly keyFile: string }
    | { readonly mode: 'dev'; readonly dir: string | undefined }
    | ({ readonly mode: 'self' } & SelfModeSettings)
  readonly injection: InjectionSettings
  readonly drainMs: number
  readonly logLevel: string
  readonly help: boolean
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']
const PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'] as const
// DNS-1123 subdomain, the rule for Secret names.
const SECRET_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/

export function parseWebhookConfig(args: string[], env: Readonly<Record<string, string | undefined>>): WebhookConfig {
  const { values, positionals } = parseFlags(args, webhookFlags, env)
  if (positionals.length > 0) throw configError('webhook', `unexpected argument "${positionals[0]}"`)
  const str = (name: keyof typeof webhookFlags): string | undefined => {
    const v = values[name]
    return typeof v === 'string' ? v : undefined
  }
  const dev = values.dev === true
  const certFile = str('tls-cert-file')
  const keyFile = str('tls-key-file')
  const servingMode = str('serving-cert-mode') ?? 'files'
  if (servingMode !== 'files' && servingMode !== 'self') throw configError('serving-cert-mode', `must be files or self (got "${servingMode}")`)
  const self = servingMode === 'self' ? parseSelfMode(str, dev, certFile !== undefined || keyFile !== undefined) : undefined
  if (self === undefined && !dev && (certFile === undefined || keyFile === undefined)) {
    throw configError(certFile === undefined ? 'tls-cert-file' : 'tls-key-file', 'is required (or use --dev for a generated development certificate)')
  }
  if (dev && (certFile !== undefined || keyFile !== undefined)) throw configError('dev', 'cannot be combined with --tls-cert-file/--tls-key-file')
  const port = parseInteger('port', str('port') ?? '', 0, 65535)
  const drainSeconds = parseInteger('drain-seconds', str('drain-seconds') ?? '', 0, 3600)
  const logLevel = str('log-level') ?? 'info'
  if (!LOG_LEVELS.includes(logLevel)) throw configError('log-level', `must be one of ${LOG_LEVELS.join(', ')}`)
  const pull = str('image-pull-policy') ?? 'IfNotPresent'
  if (!isPullPolicy(pull)) throw configError('image-pull-policy', `must be one of ${PULL_POLICIES.join(', ')}`)
  const image = str('image') ?? ''
  if (image === '' || /\s/.test(image)) throw configError('image', 'must be a non-empty image reference without spaces')
  const secretNames = {
    contour: checkSecretName('contour-secret', str('contour-secret')),
    envoy: checkSecretName('envoy-secret', str('envoy-secret')),
    ca: checkSecretName('ca-secret', str('ca-secret')),
  }
  if (new Set(Object.values(secretNames)).size !== 3) throw configError('contour-secret', 'the three Secret names must differ')
  const mountRoot = (str('mount-root') ?? '').replace(/\/+$/, '')
  if (!mountRoot.startsWith('/') || mountRoot.includes('..') || mountRoot.includes(':')) throw configError('mount-root', 'must be an absolute path without ".." or ":"')
  const existingTls = str('existing-tls') ?? DEFAULT_EXISTING_TLS
  if (!isExistingTlsPolicy(existingTls)) throw configError('existing-tls', `must be one of ${ExistingTlsPolicies.join(', ')} (got "${existingTls}")`)
  const bootstrapMode = str('bootstrap-mode') ?? DEFAULT_BOOTSTRAP_MODE
  if (!isBootstrapMode(bootstrapMode)) throw configError('bootstrap-mode', `must be one of ${BootstrapModes.join(', ')} (got "${bootstrapMode}")`)
  const hostGiven = args.some((a) => a === '--host' || a.startsWith('--host=')) || env.CONTOUR_TLS_INJECTOR_HOST !== undefined
  return Object.freeze({
    host: dev && !hostGiven ? '127.0.0.1' : (str('host') ?? '0.0.0.0'),
    port,
    tls: self !== undefined ? self : dev ? { mode: 'dev' as const, dir: str('dev-cert-dir') } : { mode: 'files' as const, certFile: certFile ?? '', keyFile: keyFile ?? '' },
    injection: Object.freeze({ image, imagePullPolicy: pull, secretNames: Object.freeze(secretNames), mountRoot, version: VERSION, existingTls, bootstrapMode }),
    drainMs: drainSeconds * 1000,
    logLevel,
    help: values.help === true,
  })
}

// DNS-1123 label: Service and namespace names.
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/

function parseSelfMode(str: (name: keyof typeof webhookFlags) => string | undefined, dev: boolean, filesGiven: boolean): { mode: 'self' } & SelfModeSettings {
  if (dev) throw configError('dev', 'cannot be combined with --serving-cert-mode=self')
  if (filesGiven) throw configError('serving-cert-mode', 'self cannot be combined with --tls-cert-file/--tls-key-file')
  const serviceName = str('service-name') ?? ''
  if (!DNS_LABEL.test(serviceName)) throw configError('service-name', `"${serviceName}" is not a valid Service name (DNS-1123 label)`)
  const namespace = str('service-namespace')
  if (namespace !== undefined && !DNS_LABEL.test(namespace)) throw configError('service-namespace', `"${namespace}" is not a valid namespace name (DNS-1123 label)`)
  const lifetimeRaw = str('serving-cert-lifetime-days') ?? ''
  const lifetimeDays = Number(lifetimeRaw)
  if (lifetimeRaw.trim() === '' || !Number.isFinite(lifetimeDays) || lifetimeDays < 0.001 || lifetimeDays > 3650) {
    throw configError('serving-cert-lifetime-days', `"${lifetimeRaw}" is not a number of days from 0.001 to 3650`)
  }
  const extraSans = (str('serving-cert-extra-sans') ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '')
  for (const san of extraSans) {
    if (isIP(san) === 0 && !(san.length <= 253 && san.toLowerCase().split('.').every((l) => DNS_LABEL.test(l)))) {
      throw configError('serving-cert-extra-sans', `"${san}" is neither a DNS name nor an IP address`)
    }
  }
  const webhookConfigurationName = str('webhook-configuration-name') ?? ''
  if (webhookConfigurationName.length > 253 || !SECRET_NAME.test(webhookConfigurationName)) {
    throw configError('webhook-configuration-name', `"${webhookConfigurationName}" is not a valid object name (DNS-1123 subdomain)`)
  }
  return Object.freeze({
    mode: 'self' as const,
    secretName: checkSecretName('serving-cert-secret', str('serving-cert-secret')),
    serviceName,
    namespace,
    webhookConfigurationName,
    extraSans: Object.freeze(extraSans),
    lifetimeDays,
    kubeconfig: str('kubeconfig'),
  })
}

function isExistingTlsPolicy(v: string): v is ExistingTlsPolicy {
  return (ExistingTlsPolicies as readonly string[]).includes(v)
}

function isBootstrapMode(v: string): v is BootstrapMode {
  return (BootstrapModes as readonly string[]).includes(v)
}

function isPullPolicy(v: string): v is (typeof PULL_POLICIES)[number] {
  return (PULL_POLICIES as readonly string[]).includes(v)
}

function parseInteger(flag: string, raw: string, min: number, max: number): number {
  if (!/^\d+$/.test(raw)) throw configError(flag, `"${raw}" is not a whole number`)
  const n = Number(raw)
  if (n < min || n > max) throw configError(flag, `${n} is outside ${min}..${max}`)
  return n
}

function checkSecretName(flag: string, raw: string | undefined): string {
  if (raw === undefined || raw.length > 253 || !SECRET_NAME.test(raw)) throw configError(flag, `"${raw ?? ''}" is not a valid Secret name (DNS-1123 subdomain)`)
  return raw
}

function configError(flag: string, message: string): InjectorError {
  return new InjectorError('ERR_CONFIG', `--${flag}: ${message}`)
}
