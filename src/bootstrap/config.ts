// Flags and environment of `bootstrap-tls`, parsed and checked once into a frozen object.
import { formatHelp, parseFlags, type FlagSpec } from '../cli/parse-flags.ts'
import { InjectorError } from '../errors.ts'
import { BootstrapErrorCodes } from './exit-codes.ts'
import { parseDuration } from './duration.ts'
import { validateSecretName, type SecretNames } from './secret-model.ts'

export const FLAG_SPECS = {
  role: { type: 'string', help: 'contour: ensure the Secrets, then wait for the mounts; envoy: only wait for the mounts' },
  'out-dir': { type: 'string', help: 'write a fresh set of PEM files to DIR (offline, no cluster) instead of --role' },
  force: { type: 'boolean', help: 'with --out-dir: replace existing files' },
  'tls-dir': { type: 'string', default: '/etc/tls', help: 'root of the mounts <dir>/contour, <dir>/envoy, <dir>/ca' },
  probe: { type: 'boolean', help: 'check once that the mounted files under --tls-dir hold a valid set and exit 0, else non-zero with what is missing (the sidecar\'s startup probe; no API call, no waiting)' },
  sidecar: { type: 'boolean', help: 'contour role: after the set is in place, keep running and ensure it again every --poll-interval (renewal and rotation while the pod runs); exit 0 on SIGTERM' },
  'metrics-port': { type: 'string', default: '0', help: '--sidecar: serve the certificate lifecycle metrics on GET /metrics at this port (0: off)' },
  'poll-interval': { type: 'string', default: '10m', help: '--sidecar: pause between checks of the Secrets, jittered by +-20% (e.g. 10m, 600s)' },
  'secrets-only': { type: 'boolean', help: 'contour role: ensure the Secrets and exit without waiting for mounts (Helm pre-install hook, jobs)' },
  colocated: { type: 'boolean', help: 'contour role: also wait for <tls-dir>/envoy (implied when that directory exists)' },
  namespace: { type: 'string', env: 'POD_NAMESPACE', help: 'namespace of the Secrets (else the service account namespace file)' },
  kubeconfig: { type: 'string', env: 'KUBECONFIG', help: 'kubeconfig to use instead of the in-cluster service account' },
  'contour-secret': { type: 'string', default: 'contour-tls', help: 'Secret holding Contour\'s certificate' },
  'envoy-secret': { type: 'string', default: 'envoy-tls', help: 'Secret holding Envoy\'s certificate' },
  'ca-secret': { type: 'string', default: 'contour-ca', help: 'Secret holding the CA certificate (never a key)' },
  'rotate-token': { type: 'string', env: 'CONTOUR_TLS_ROTATE', help: 'replace the set once when this differs from the token recorded on the Secrets' },
  'wait-timeout': { type: 'string', default: '300s', help: 'give up after this long (300, 300s, 5m)' },
  'migrate-from': { type: 'string', default: 'certgen', help: 'contour role: certgen: a first set takes over contour certgen\'s Secrets of the same instance (contourcert<S>, envoycert<S>, cacert<S>) without an outage, trusting both CAs meanwhile; none: never read them' },
  'propagation-delay': { type: 'string', default: '5m', help: 'contour role: how long after new trust is written before the leaves switch to the next CA (the kubelet\'s worst case to refresh a mounted Secret, plus margin)' },
  'service-name': { type: 'string', default: 'contour', help: 'Contour Service name for the certificate\'s DNS names' },
  'extra-sans': { type: 'string', help: 'comma-separated extra DNS names or IPs for Contour\'s certificate' },
  'lifetime-days': { type: 'string', default: '365', help: 'lifetime of a new set in days' },
  'key-bits': { type: 'string', default: '2048', help: 'RSA key size of a new set' },
  help: { type: 'boolean', help: 'show this help' },
} as const satisfies Record<string, FlagSpec>

export const HELP = formatHelp(
  'Usage: contour-tls-injector bootstrap-tls --role=contour|envoy [flags]\n       contour-tls-injector bootstrap-tls --role=contour --sidecar [--poll-interval=10m] [flags]\n       contour-tls-injector bootstrap-tls --probe [--tls-dir=DIR] [--colocated]\n       contour-tls-injector bootstrap-tls --out-dir=DIR [--force] [flags]',
  FLAG_SPECS,
)

export interface IssueSettings {
  readonly serviceName: string
  readonly extraSans: readonly string[]
  readonly lifetimeDays: number
  readonly keyBits: number
}

export type BootstrapConfig =
  | { readonly mode: 'help' }
  | { readonly mode: 'out-dir'; readonly outDir: string; readonly force: boolean; readonly namespace: string | undefined; readonly issue: IssueSettings }
  | { readonly mode: 'envoy'; readonly tlsDir: string; readonly waitTimeoutMs: number }
  | { readonly mode: 'probe'; readonly tlsDir: string; readonly colocated: boolean }
  | {
      readonly mode: 'contour'
      readonly tlsDir: string
      readonly waitTimeoutMs: number
      readonly colocated: boolean
      readonly secretsOnly: boolean
      /** Keep running after the set is in place and ensure it every pollIntervalMs (jittered). */
      readonly sidecar: boolean
      readonly metricsPort: number
      readonly pollIntervalMs: number
      readonly namespace: string | undefined
      readonly kubeconfig: string | undefined
      readonly secretNames: SecretNames
      readonly rotateToken: string
      readonly propagationDelayMs: number
      readonly migrateFromCertgen: boolean
      readonly issue: IssueSettings
    }

export function parseBootstrapConfig(args: string[], env: Readonly<Record<string, string | undefined>>): BootstrapConfig {
  const { values, positionals } = parseFlags(args, FLAG_SPECS, env)
  if (values.help === true) return Object.freeze({ mode: 'help' })
  if (positionals.length > 0) usage(`unexpected argument "${positionals[0]}"`)
  const str = (name: keyof typeof FLAG_SPECS): string | undefined => {
    const v = values[name]
    return typeof v === 'string' ? v : undefined
  }
  const role = str('role')
  const outDir = str('out-dir')
  if (values.probe === true) {
    if (role !== undefined || outDir !== undefined) usage('--probe takes neither --role nor --out-dir')
    return Object.freeze({ mode: 'probe', tlsDir: str('tls-dir') ?? '/etc/tls', colocated: values.colocated === true })
  }
  if (outDir !== undefined && role !== undefined) usage('give either --role or --out-dir, not both')
  if (outDir === undefined && role === undefined) usage('--role=contour, --role=envoy or --out-dir=DIR is required')
  if (values.force === true && outDir === undefined) usage('--force only applies to --out-dir')

  const issue = (): IssueSettings => ({
    serviceName: str('service-name') ?? 'contour',
    extraSans: (str('extra-sans') ?? '').split(',').map((s) => s.trim()).filter((s) => s !== ''),
    lifetimeDays: parseNumber('lifetime-days', str('lifetime-days') ?? '365'),
    keyBits: parseNumber('key-bits', str('key-bits') ?? '2048'),
  })
  if (outDir !== undefined) {
    if (outDir === '') usage('--out-dir must not be empty')
    return Object.freeze({ mode: 'out-dir', outDir, force: values.force === true, namespace: str('namespace'), issue: issue() })
  }
  const tlsDir = str('tls-dir') ?? '/etc/tls'
  const waitTimeoutMs = parseDuration('wait-timeout', str('wait-timeout') ?? '300s')
  if (values['secrets-only'] === true && role !== 'contour') usage('--secrets-only only applies to --role=contour')
  if (values.sidecar === true && role !== 'contour') usage('--sidecar only applies to --role=contour')
  if (values.sidecar === true && values['secrets-only'] === true) usage('--sidecar and --secrets-only exclude each other')
  const pollIntervalMs = parseDuration('poll-interval', str('poll-interval') ?? '10m')
  if (role === 'envoy') return Object.freeze({ mode: 'envoy', tlsDir, waitTimeoutMs })
  if (role !== 'contour') usage(`--role must be contour or envoy (got "${role}")`)
  const secretNames = {
    contour: validateSecretName('contour-secret', str('contour-secret') ?? 'contour-tls'),
    envoy: validateSecretName('envoy-secret', str('envoy-secret') ?? 'envoy-tls'),
    ca: validateSecretName('ca-secret', str('ca-secret') ?? 'contour-ca'),
  }
  if (new Set(Object.values(secretNames)).size !== 3) {
    throw new InjectorError(BootstrapErrorCodes.ERR_CONFIG, '--contour-secret, --envoy-secret and --ca-secret must be three different names')
  }
  return Object.freeze({
    mode: 'contour',
    tlsDir,
    waitTimeoutMs,
    colocated: values.colocated === true,
    secretsOnly: values['secrets-only'] === true,
    sidecar: values.sidecar === true,
    metricsPort: parsePort(str('metrics-port') ?? '0'),
    pollIntervalMs,
    namespace: str('namespace'),
    kubeconfig: str('kubeconfig'),
    secretNames: Object.freeze(secretNames),
    rotateToken: (str('rotate-token') ?? '').trim(),
    propagationDelayMs: parseDuration('propagation-delay', str('propagation-delay') ?? '5m'),
    migrateFromCertgen: parseMigrateFrom(str('migrate-from') ?? 'certgen'),
    issue: issue(),
  })
}

function parsePort(raw: string): number {
  const n = Number(raw)
  if (!/^\d+$/.test(raw.trim()) || n > 65535) throw new InjectorError(BootstrapErrorCodes.ERR_CONFIG, `--metrics-port: "${raw}" is not a port (0 to 65535)`)
  return n
}

function parseMigrateFrom(raw: string): boolean {
  if (raw === 'certgen') return true
  if (raw === 'none') return false
  throw new InjectorError(BootstrapErrorCodes.ERR_CONFIG, `--migrate-from: "${raw}" is not one of certgen, none`)
}

function parseNumber(flag: string, raw: string): number {
  const n = Number(raw)
  if (raw.trim() === '' || !Number.isFinite(n) || n <= 0) {
    throw new InjectorError(BootstrapErrorCodes.ERR_CONFIG, `--${flag}: "${raw}" is not a positive number`)
  }
  return n
}

function usage(message: string): never {
  throw new InjectorError(BootstrapErrorCodes.ERR_USAGE, message)
}
