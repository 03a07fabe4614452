// The three Secrets as plain data, and the pure conversions between them and a CertificateSet.
import type { V1OwnerReference } from '@kubernetes/client-node'
import { InjectorError } from '../errors.ts'
import type { CertificateSet } from '../core/certs/types.ts'
import { bundleText, parseBundle, PHASES, phaseOf, STEP_KINDS, type LeafPair, type Phase, type StepKind, type TrustState } from '../core/rotation/trust-state.ts'
import { BootstrapErrorCodes } from './exit-codes.ts'

export interface SecretNames {
  readonly contour: string
  readonly envoy: string
  readonly ca: string
}
export type SecretRole = keyof SecretNames
export const SECRET_ROLES: readonly SecretRole[] = ['ca', 'contour', 'envoy']

export const MANAGED_BY = { key: 'app.kubernetes.io/managed-by', value: 'contour-tls-injector' } as const
export const SecretAnnotations = {
  fingerprint: 'contour-tls-injection/fingerprint',
  notAfter: 'contour-tls-injection/not-after',
  /** When the Secret was written as part of its set; tells a stalled half-written set from a live one. */
  writtenAt: 'contour-tls-injection/written-at',
  /** On the CA Secret only: `writing` while its writer still writes the leaves, then `complete`. */
  setState: 'contour-tls-injection/set-state',
  rotateToken: 'contour-tls-injection/rotate-token',
  /** JSON array of tokens already honoured, so a restarted pod of an older rollout can't flip back. */
  rotateTokenHistory: 'contour-tls-injection/rotate-token-history',
  /** On the CA Secret: JSON array of revoke tokens already honoured. */
  revokeTokenHistory: 'contour-tls-injection/revoke-token-history',
  /** On the CA Secret: stable, trusting (next leaves staged) or overlap (older CAs still trusted). */
  phase: 'contour-tls-injection/phase',
  /** On the CA Secret: when the last step completed; the switch is due a propagation delay after the trust was written. */
  phaseSince: 'contour-tls-injection/phase-since',
  /** On the CA Secret while set-state=writing: the step being written (issue, add-trust, switch, drop). */
  step: 'contour-tls-injection/step',
  /** On the CA Secret while leaves are staged: SHA-256 of the next CA's DER. */
  nextCa: 'contour-tls-injection/next-ca',
  /** On the CA Secret: why the current round started (renewal, rotation, revocation...). */
  roundReason: 'contour-tls-injection/round-reason',
} as const
/** What a user puts on the CA Secret to ask for a phased rotation or a revocation; each token is honoured once. */
export const RequestAnnotations = {
  rotate: 'contour-tls-injection/rotate',
  revoke: 'contour-tls-injection/revoke',
} as const
/**
 * On a Secret of `contour certgen`'s that a migration added our CA to: JSON array of the certIds
 * added, so an admin sees what changed and nothing else in it is ever touched.
 */
export const TRUST_ADDED_ANNOTATION = 'contour-tls-injection/trust-added'

/** certgen's Secrets for our set names with suffix S (`contour-ca<S>` -> `cacert<S>`...), or undefined for custom names. */
export function certgenNamesFor(names: SecretNames): SecretNames | undefined {
  if (!names.ca.startsWith('contour-ca')) return undefined
  const suffix = names.ca.slice('contour-ca'.length)
  if (names.contour !== `contour-tls${suffix}` || names.envoy !== `envoy-tls${suffix}`) return undefined
  return { contour: `contourcert${suffix}`, envoy: `envoycert${suffix}`, ca: `cacert${suffix}` }
}

/** The keys of certgen's Secrets that hold the CA: compact layout `ca.crt` on the leaves, legacy `cacert.pem`. */
export const CERTGEN_TRUST_KEYS: Readonly<Record<SecretRole, readonly string[]>> = { contour: ['ca.crt'], envoy: ['ca.crt'], ca: ['cacert.pem', 'ca.crt'] }

/** certgen's set as a trust state: its CA, and its leaves (which the migration keeps serving until the switch). */
export function certgenState(certgen: ReadSecrets): TrustState | undefined {
  const caText = textOf(certgen.ca, 'cacert.pem') ?? textOf(certgen.ca, 'ca.crt') ?? textOf(certgen.contour, 'ca.crt') ?? textOf(certgen.envoy, 'ca.crt')
  const bundle = parseBundle(caText ?? '')
  const contour = leafPairOf(certgen.contour, 'tls.crt', 'tls.key')
  const envoy = leafPairOf(certgen.envoy, 'tls.crt', 'tls.key')
  if (bundle.length === 0 || contour === undefined || envoy === undefined) return undefined
  return { bundle, contour, envoy }
}

/**
 * The writes that add `caPem` to every trust key certgen's Secrets hold (only those keys, and the
 * trust-added annotation), for Secrets that lack it. Guarded by the resourceVersion read.
 */
export function certgenTrustWrites(certgen: ReadSecrets, caPem: string, caId: string): Array<{ write: SecretWrite; resourceVersion: string }> {
  const writes: Array<{ write: SecretWrite; resourceVersion: string }> = []
  for (const role of SECRET_ROLES) {
    const secret = certgen[role]
    if (secret === undefined) continue
    const data: Record<string, Buffer> = { ...secret.data }
    let changed = false
    for (const key of CERTGEN_TRUST_KEYS[role]) {
      const text = textOf(secret, key)
      if (text === undefined || parseBundle(text).includes(parseBundle(caPem)[0] ?? '')) continue
      data[key] = Buffer.from(bundleText([...parseBundle(text), ...parseBundle(caPem)]))
      changed = true
    }
    if (!changed) continue
    const added = [...parseHistory(secret.annotations[TRUST_ADDED_ANNOTATION]), caId]
    writes.push({
      write: { name: secret.name, type: secret.type, data, labels: secret.labels, annotations: { ...secret.annotations, [TRUST_ADDED_ANNOTATION]: JSON.stringify(added) }, ...(secret.ownerReferences ? { ownerReferences: secret.ownerReferences } : {}) },
      resourceVersion: secret.resourceVersion,
    })
  }
  return writes
}

/** Keys of a leaf Secret that hold the next leaves while they wait for the switch. */
export const STAGED_KEYS = { cert: 'next-tls.crt', key: 'next-tls.key' } as const
export const ROTATE_HISTORY_LENGTH = 10

export const TLS_SECRET_TYPE = 'kubernetes.io/tls'
export const OPAQUE_SECRET_TYPE = 'Opaque'

/** A Secret to write; `resourceVersion` makes a replace conditional on nobody having written since. */
export interface SecretWrite {
  readonly name: string
  readonly type: string
  readonly data: Readonly<Record<string, Buffer>>
  readonly labels: Readonly<Record<string, string>>
  readonly annotations: Readonly<Record<string, string>>
  /** Kept as read (a provisioner's Secrets are owned by its objects); a replace writes them back. */
  readonly ownerReferences?: ReadonlyArray<V1OwnerReference>
}

/** A Secret as read: data decoded to bytes. */
export interface StoredSecret extends SecretWrite {
  readonly resourceVersion: string
}

export type ReadSecrets = Readonly<Partial<Record<SecretRole, StoredSecret>>>

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/

export function validateSecretName(flag: string, name: string): string {
  if (name.length > 253 || !DNS1123_SUBDOMAIN.test(name)) {
    throw new InjectorError(BootstrapErrorCodes.ERR_CONFIG, `--${flag}: "${name}" is not a valid Secret name`)
  }
  return name
}

export function isManaged(secret: StoredSecret): boolean {
  return secret.labels[MANAGED_BY.key] === MANAGED_BY.value
}

export function textOf(secret: StoredSecret | undefined, key: string): string | undefined {
  return secret?.data[key]?.toString('utf8')
}

/**
 * The set the three Secrets hold, if every piece is there. A missing CA Secret is filled from the
 * leaves' `ca.crt` when both carry the same one (cert-manager and `contour certgen`'s compact
 * layout have no separate CA Secret).
 */
export function setFromSecrets(read: ReadSecrets): { set: CertificateSet } | { missing: string } {
  const caCert = read.ca ? textOf(read.ca, 'ca.crt') : derivedCaCert(read)
  const set = {
    caCert,
    contourCert: textOf(read.contour, 'tls.crt'),
    contourKey: textOf(read.contour, 'tls.key'),
    envoyCert: textOf(read.envoy, 'tls.crt'),
    envoyKey: textOf(read.envoy, 'tls.key'),
  }
  const labels: Record<keyof typeof set, string> = {
    caCert: read.ca ? `ca.crt of Secret ${read.ca.name}` : 'the CA Secret',
    contourCert: 'tls.crt of the Contour Secret',
    contourKey: 'tls.key of the Contour Secret',
    envoyCert: 'tls.crt of the Envoy Secret',
    envoyKey: 'tls.key of the Envoy Secret',
  }
  for (const [field, value] of Object.entries(set)) {
    if (value === undefined || value.trim() === '') return { missing: labels[field as keyof typeof set] }
  }
  return { set: set as CertificateSet }
}

function derivedCaCert(read: ReadSecrets): string | undefined {
  const a = textOf(read.contour, 'ca.crt')
  const b = textOf(read.envoy, 'ca.crt')
  return a !== undefined && b !== undefined && a.trim() === b.trim() ? a : undefined
}

/**
 * The trust state the Secrets hold: the set, plus the next leaves when both leaf Secrets stage
 * them. (The CA Secret's bundle is the trust; the leaves' ca.crt copies it.)
 */
export function stateFromSecrets(read: ReadSecrets): { state: TrustState } | { missing: string } {
  const pieces = setFromSecrets(read)
  if (!('set' in pieces)) return pieces
  const { set } = pieces
  const contour = leafPairOf(read.contour, STAGED_KEYS.cert, STAGED_KEYS.key)
  const envoy = leafPairOf(read.envoy, STAGED_KEYS.cert, STAGED_KEYS.key)
  const state: TrustState = {
    bundle: parseBundle(set.caCert),
    contour: { cert: set.contourCert, key: set.contourKey },
    envoy: { cert: set.envoyCert, key: set.envoyKey },
    ...(contour && envoy ? { staged: { contour, envoy } } : {}),
  }
  return { state }
}

export function toTrustState(set: CertificateSet | TrustState): TrustState {
  if ('bundle' in set) return set
  return { bundle: parseBundle(set.caCert), contour: { cert: set.contourCert, key: set.contourKey }, envoy: { cert: set.envoyCert, key: set.envoyKey } }
}

export type SetState = 'writing' | 'complete'

/** What a new or renewed Secret records about the set it belongs to. */
export interface SetRecord {
  readonly fingerprint: string
  readonly notAfter: Date
  readonly writtenAt: Date
  readonly rotateToken: string
  readonly rotateTokenHistory: readonly string[]
  /** CA Secret only: the rotation's bookkeeping. */
  readonly round?: RoundRecord
}

export interface RoundRecord {
  /** The step being written (while writing) or last written. */
  readonly step: StepKind
  readonly reason: string
  /** When the state the CA Secret describes was complete (the claim's time while writing). */
  readonly phaseSince: Date
  /** certId of the CA that signed the staged leaves, while staged. */
  readonly nextCa?: string
  readonly revokeTokenHistory: readonly string[]
}

/**
 * The Secret for one role of a set or trust state. Labels and annotations someone else put on an
 * existing Secret are kept (a replace is a full PUT); data is exactly ours, so a stray key (say a
 * CA key) goes. Leaf Secrets carry the staged next leaves, if any, as next-tls.crt/next-tls.key.
 */
export function buildSecretWrite(
  role: SecretRole,
  name: string,
  setOrState: CertificateSet | TrustState,
  record: SetRecord,
  existing?: StoredSecret,
  caState: SetState = 'complete',
): SecretWrite {
  const state = toTrustState(setOrState)
  const annotations: Record<string, string> = {
    ...existing?.annotations,
    [SecretAnnotations.fingerprint]: record.fingerprint,
    [SecretAnnotations.notAfter]: record.notAfter.toISOString(),
    [SecretAnnotations.writtenAt]: record.writtenAt.toISOString(),
    [SecretAnnotations.rotateToken]: record.rotateToken,
    [SecretAnnotations.rotateTokenHistory]: JSON.stringify(record.rotateTokenHistory),
  }
  const caOnly = [SecretAnnotations.setState, SecretAnnotations.phase, SecretAnnotations.phaseSince, SecretAnnotations.step, SecretAnnotations.nextCa, SecretAnnotations.roundReason, SecretAnnotations.revokeTokenHistory]
  for (const key of caOnly) delete annotations[key]
  if (role === 'ca') {
    annotations[SecretAnnotations.setState] = caState
    annotations[SecretAnnotations.phase] = phaseOf(state)
    if (record.round !== undefined) {
      annotations[SecretAnnotations.step] = record.round.step
      annotations[SecretAnnotations.roundReason] = record.round.reason
      annotations[SecretAnnotations.phaseSince] = record.round.phaseSince.toISOString()
      annotations[SecretAnnotations.revokeTokenHistory] = JSON.stringify(record.round.revokeTokenHistory)
      if (record.round.nextCa !== undefined) annotations[SecretAnnotations.nextCa] = record.round.nextCa
    }
  }
  const labels = { ...existing?.labels, [MANAGED_BY.key]: MANAGED_BY.value }
  // A set as given keeps its bytes (a CA Secret made from foreign leaves copies their ca.crt exactly).
  const ca = Buffer.from('bundle' in setOrState ? bundleText(state.bundle) : setOrState.caCert)
  const leaf = (pair: TrustState['contour'], next: TrustState['contour'] | undefined): Record<string, Buffer> => ({
    'tls.crt': Buffer.from(pair.cert),
    'tls.key': Buffer.from(pair.key),
    'ca.crt': ca,
    ...(next ? { [STAGED_KEYS.cert]: Buffer.from(next.cert), [STAGED_KEYS.key]: Buffer.from(next.key) } : {}),
  })
  const data: Record<string, Buffer> =
    role === 'ca' ? { 'ca.crt': ca } : role === 'contour' ? leaf(state.contour, state.staged?.contour) : leaf(state.envoy, state.staged?.envoy)
  return { name, type: role === 'ca' ? OPAQUE_SECRET_TYPE : TLS_SECRET_TYPE, data, labels, annotations, ...(existing?.ownerReferences ? { ownerReferences: existing.ownerReferences } : {}) }
}

/** The phase bookkeeping a CA Secret carries, read back; junk reads as absent. */
export function readRoundRecord(ca: StoredSecret | undefined): { step?: StepKind; reason?: string; phaseSince?: number; nextCa?: string; phase?: Phase; revokeTokenHistory: string[] } {
  const a = ca?.annotations ?? {}
  const since = Date.parse(a[SecretAnnotations.phaseSince] ?? '')
  const step = a[SecretAnnotations.step]
  const phase = a[SecretAnnotations.phase]
  return {
    ...(isOneOf(STEP_KINDS, step) ? { step } : {}),
    ...(a[SecretAnnotations.roundReason] ? { reason: a[SecretAnnotations.roundReason] } : {}),
    ...(Number.isNaN(since) ? {} : { phaseSince: since }),
    ...(a[SecretAnnotations.nextCa] ? { nextCa: a[SecretAnnotations.nextCa] } : {}),
    ...(isOneOf(PHASES, phase) ? { phase } : {}),
    revokeTokenHistory: parseHistory(a[SecretAnnotations.revokeTokenHistory]),
  }
}

/** The rotate tokens recorded on the managed Secrets: the current ones and the history. */
export function recordedTokens(read: ReadSecrets): { current: string[]; seen: Set<string> } {
  const current: string[] = []
  const seen = new Set<string>()
  for (const role of SECRET_ROLES) {
    const secret = read[role]
    if (secret === undefined || !isManaged(secret)) continue
    const token = secret.annotations[SecretAnnotations.rotateToken] ?? ''
    current.push(token)
    seen.add(token)
    for (const old of parseHistory(secret.annotations[SecretAnnotations.rotateTokenHistory])) seen.add(old)
  }
  return { current, seen }
}

/**
 * What a new set records: the token now honoured (or, for a plain renewal, the one already
 * recorded) and every earlier token, newest last, at most ROTATE_HISTORY_LENGTH.
 */
export function nextTokens(read: ReadSecrets, token: string): { rotateToken: string; rotateTokenHistory: string[] } {
  const anchor = [read.ca, read.contour, read.envoy].find((s) => s !== undefined && isManaged(s))
  const previous = anchor?.annotations[SecretAnnotations.rotateToken] ?? ''
  const current = token !== '' ? token : previous
  return { rotateToken: current, rotateTokenHistory: appendHistory(parseHistory(anchor?.annotations[SecretAnnotations.rotateTokenHistory]), previous, current) }
}

/** A token history with `tokens` honoured too: no empties, each once (its latest place), newest last, at most ROTATE_HISTORY_LENGTH. */
export function appendHistory(history: readonly string[], ...tokens: string[]): string[] {
  const all = [...history, ...tokens].filter((t) => t !== '')
  return all.filter((t, i) => all.lastIndexOf(t) === i).slice(-ROTATE_HISTORY_LENGTH)
}

/** Whether two Secrets' data hold the same keys with the same bytes. */
export function sameSecretData(a: Readonly<Record<string, Buffer>>, b: Readonly<Record<string, Buffer>>): boolean {
  const keys = Object.keys(a)
  return keys.length === Object.keys(b).length && keys.every((k) => b[k] !== undefined && (a[k] as Buffer).equals(b[k] as Buffer))
}

/** A certificate and key a Secret holds under `certKey` and `keyKey`, both non-empty, or undefined. */
export function leafPairOf(secret: StoredSecret | undefined, certKey: string, keyKey: string): LeafPair | undefined {
  const cert = textOf(secret, certKey)
  const key = textOf(secret, keyKey)
  return cert !== undefined && key !== undefined && cert.trim() !== '' && key.trim() !== '' ? { cert, key } : undefined
}

function isOneOf<T extends string>(values: readonly T[], value: string | undefined): value is T {
  return (values as readonly (string | undefined)[]).includes(value)
}

/** The honoured tokens recorded in a `rotate-token-history` annotation; junk reads as none. */
export function parseHistory(raw: string | undefined): string[] {
  if (raw === undefined) return []
  try {
    const parsed: unknown = JSON.parse(raw)
    return Array.isArray(parsed) ? parsed.filter((t): t is string => typeof t === 'string') : []
  } catch {
    return []
  }
}
