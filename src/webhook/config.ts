// Parses the webhook's flags and environment once, validates them, and freezes the result.
// Bad configuration stops start-up with a message that names the flag.
import { InjectorError } from '../errors.ts'
import { formatHelp, parseFlags, type FlagSpec } from '../cli/parse-flags.ts'
import { DEFAULT_MOUNT_ROOT, DEFAULT_SECRET_NAMES, type InjectionSettings } from '../core/injection/types.ts'
import { DEFAULT_IMAGE, VERSION } from '../version.ts'

export const webhookFlags = {
  host: { type: 'string', env: 'CONTOUR_TLS_INJECTOR_HOST', default: '0.0.0.0', help: 'Address to listen on' },
  port: { type: 'string', env: 'CONTOUR_TLS_INJECTOR_PORT', default: '8443', help: 'HTTPS port' },
  'tls-cert-file': { type: 'string', env: 'CONTOUR_TLS_INJECTOR_TLS_CERT_FILE', help: 'Serving certificate (PEM); reloaded when it changes' },
  'tls-key-file': { type: 'string', env: 'CONTOUR_TLS_INJECTOR_TLS_KEY_FILE', help: 'Serving private key (PEM); reloaded when it changes' },
  dev: { type: 'boolean', env: 'CONTOUR_TLS_INJECTOR_DEV', default: false, help: 'Generate a development certificate for 127.0.0.1 and localhost (listens on 127.0.0.1 unless --host is given)' },
  'dev-cert-dir': { type: 'string', env: 'CONTOUR_TLS_INJECTOR_DEV_CERT_DIR', help: 'Where --dev writes its CA and certificate (default: a fresh temporary directory)' },
  image: { type: 'string', env: 'CONTOUR_TLS_INJECTOR_IMAGE', default: DEFAULT_IMAGE, help: 'Image of the injected bootstrap-tls init container' },
  'image-pull-policy': { type: 'string', env: 'CONTOUR_TLS_INJECTOR_IMAGE_PULL_POLICY', default: 'IfNotPresent', help: 'Always, IfNotPresent or Never' },
  'contour-secret': { type: 'string', env: 'CONTOUR_TLS_INJECTOR_CONTOUR_SECRET', default: DEFAULT_SECRET_NAMES.contour, help: 'Secret with the Contour server certificate' },
  'envoy-secret': { type: 'string', env: 'CONTOUR_TLS_INJECTOR_ENVOY_SECRET', default: DEFAULT_SECRET_NAMES.envoy, help: 'Secret with the Envoy client certificate' },
  'ca-secret': { type: 'string', env: 'CONTOUR_TLS_INJECTOR_CA_SECRET', default: DEFAULT_SECRET_NAMES.ca, help: 'Secret with the CA certificate' },
  'mount-root': { type: 'string', env: 'CONTOUR_TLS_INJECTOR_MOUNT_ROOT', default: DEFAULT_MOUNT_ROOT, help: 'Directory under which the three Secret volumes are mounted' },
  'drain-seconds': { type: 'string', env: 'CONTOUR_TLS_INJECTOR_DRAIN_SECONDS', default: '15', help: 'After SIGTERM: seconds to keep serving while readiness reports not ready' },
  'log-level': { type: 'string', env: 'CONTOUR_TLS_INJECTOR_LOG_LEVEL', default: 'info', help: 'fatal, error, warn, info, debug or trace' },
  help: { type: 'boolean', help: 'Show this help' },
} as const satisfies Record<string, FlagSpec>

export const webhookHelp = formatHelp('Usage: contour-tls-injector webhook [flags]\n\nServes POST /mutate (AdmissionReview v1), GET /healthz, /readyz and /metrics over HTTPS.', webhookFlags)

export interface WebhookConfig {
  readonly host: string
  readonly port: number
  readonly tls: { readonly mode: 'files'; readonly certFile: string; readonly keyFile: string } | { readonly mode: 'dev'; readonly dir: string | undefined }
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
  if (!dev && (certFile === undefined || keyFile === undefined)) {
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
  const hostGiven = args.some((a) => a === '--host' || a.startsWith('--host=')) || env.CONTOUR_TLS_INJECTOR_HOST !== undefined
  return Object.freeze({
    host: dev && !hostGiven ? '127.0.0.1' : (str('host') ?? '0.0.0.0'),
    port,
    tls: dev ? { mode: 'dev' as const, dir: str('dev-cert-dir') } : { mode: 'files' as const, certFile: certFile ?? '', keyFile: keyFile ?? '' },
    injection: Object.freeze({ image, imagePullPolicy: pull, secretNames: Object.freeze(secretNames), mountRoot, version: VERSION }),
    drainMs: drainSeconds * 1000,
    logLevel,
    help: values.help === true,
  })
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
