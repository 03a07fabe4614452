// The pure decision at the heart of `bootstrap-tls --role=contour` and its sidecar loop: given
// what the three Secrets hold now, what to do next. No I/O: ensure-secrets.ts reads, asks, writes,
// and asks again. Which rotation step is due comes from core/rotation/next-step.ts.
//
// Three Secrets cannot be written atomically, so one of them, the CA Secret, is the lock. Every
// step (issue a whole new set, add-trust, switch, drop; see core/rotation/trust-state.ts) is:
// 1. claim: a guarded write of the CA Secret (create-if-absent, or a replace carrying the
//    resourceVersion that was read) with the step's target trust, marked `set-state: writing`
//    and `step: <kind>`. Of several replicas at most one wins; the others get 409, re-read, wait.
// 2. the winner writes both leaf Secrets (guarded the same way);
// 3. finalize: the winner rewrites the CA Secret, guarded by the resourceVersion of its claim,
//    as `set-state: complete`, with `phase-since` the time the step was complete everywhere.
// Nobody uses a set while its CA Secret says `writing`, and every change of a leaf is followed by
// a change of the CA Secret, so a write planned on a stale read always fails with 409. A claim left
// `writing` (its writer died) is taken over, again by a guarded write, once it has been unchanged
// for takeoverAfterMs: the claim names its step and holds its target trust, so the taker finishes
// that step (or, when the dead writer's fresh leaves never reached the Secrets, stages new ones).
// Each step only ever adds trust before a leaf needs it and removes trust after no leaf needs it,
// so every state a crash can leave behind is one in which coexisting pods handshake.
import type { CertificateSet, CheckResult } from '../core/certs/types.ts'
import { isRoundReason, nextStep, type RoundReason } from '../core/rotation/next-step.ts'
import { certId, currentSet, dropExpired, parseBundle, signerIn, switchLeaves, type LeafPair, type StepKind, type TrustState } from '../core/rotation/trust-state.ts'
import {
  certgenState,
  certgenTrustWrites,
  isManaged,
  leafPairOf,
  readRoundRecord,
  recordedTokens,
  RequestAnnotations,
  sameSecretData,
  SecretAnnotations,
  setFromSecrets,
  STAGED_KEYS,
  stateFromSecrets,
  textOf,
  type ReadSecrets,
  type SecretNames,
  type SecretRole,
  type StoredSecret,
} from './secret-model.ts'

export type { RoundReason }

export interface OwnRound {
  readonly fingerprint: string
  /** resourceVersion of the CA Secret as this process claimed it. */
  readonly caResourceVersion: string
  /** The data each leaf Secret must hold when the step is done (else the fingerprint decides). */
  readonly leafData?: Readonly<Record<LeafRole, Readonly<Record<string, Buffer>>>>
  /** A migration's next CA: certgen's Secrets must trust it before the step is complete. */
  readonly migrationCa?: string
}

export interface PlanInput {
  readonly names: SecretNames
  readonly read: ReadSecrets
  /** checkCertificateSet bound to the clock and renewal fraction. */
  readonly check: (set: CertificateSet) => CheckResult
  /** '' means no rotation requested. */
  readonly rotateToken: string
  /** The claim this process holds, if any. */
  readonly round?: OwnRound
  /** Epoch ms. */
  readonly now: number
  /** How long this process has seen the same claimed state (same resourceVersions). */
  readonly pendingForMs: number
  readonly takeoverAfterMs: number
  /** How long after new trust is written the leaves may switch (default: the kubelet's worst case plus margin). */
  readonly propagationDelayMs?: number
  /** `contour certgen`'s Secrets of this instance, when a migration may start or is under way. */
  readonly certgen?: ReadSecrets
}

export const DEFAULT_PROPAGATION_DELAY_MS = 5 * 60_000

export type LeafRole = Exclude<SecretRole, 'ca'>

/** How a step's target state comes about: ready from what is stored, or built on a fresh set. */
export type StepBuild =
  | { readonly kind: 'ready'; readonly target: TrustState }
  /** `base` undefined: a whole new set; else stage a fresh set's leaves on `base` (add-trust). */
  | { readonly kind: 'fresh'; readonly base: TrustState | undefined; readonly abandonedCa?: string }

export type Plan =
  /** The Secrets hold a complete, usable set: done. `warnings` say what could not be done (foreign set). */
  | {
      readonly kind: 'use'
      readonly set: CertificateSet
      readonly state: TrustState | undefined
      readonly secrets: Readonly<Record<SecretRole, StoredSecret>>
      readonly warnings: readonly string[]
      /** When the next step falls due (switch, drop, renewal), if this product manages the set. */
      readonly nextAt: number | undefined
    }
  /** Valid leaves but no CA Secret: create it from the leaves' ca.crt (no new set). */
  | { readonly kind: 'create-ca'; readonly set: CertificateSet; readonly warnings: readonly string[] }
  /** Claim the CA Secret for one step (create if `anchor` is absent, else guarded replace). */
  | {
      readonly kind: 'start-round'
      readonly step: StepKind
      readonly reason: RoundReason
      readonly detail: string
      readonly anchor: StoredSecret | undefined
      readonly build: StepBuild
      /** Tokens this step honours. */
      readonly honours: { readonly rotate: string; readonly revoke: string }
    }
  /** This process holds the claim: write these leaves (create if absent, else guarded replace). */
  | { readonly kind: 'continue-round'; readonly leaves: ReadonlyArray<{ readonly role: LeafRole; readonly existing: StoredSecret | undefined }> }
  /** This process holds a migration's claim and the leaves are written: add our next CA to certgen's Secrets' trust. */
  | { readonly kind: 'extend-trust'; readonly writes: ReturnType<typeof certgenTrustWrites> }
  /** This process holds the claim and the leaves are written: mark the CA Secret complete. */
  | { readonly kind: 'finalize'; readonly anchor: StoredSecret }
  /** Another writer holds the claim. */
  | { readonly kind: 'wait'; readonly detail: string }
  /** Going on would overwrite a Secret this product did not create. */
  | { readonly kind: 'refuse'; readonly secret: string; readonly detail: string }

const LEAVES: readonly LeafRole[] = ['contour', 'envoy']
const NO_TOKENS = { rotate: '', revoke: '' } as const

export function planSecrets(input: PlanInput): Plan {
  const { read, round } = input
  const owned = ownership(read)
  const ca = read.ca

  if (round !== undefined && ca !== undefined && ca.resourceVersion === round.caResourceVersion) {
    const done = (role: LeafRole): boolean =>
      read[role]?.annotations[SecretAnnotations.fingerprint] === round.fingerprint && (round.leafData === undefined || sameSecretData(read[role]?.data ?? {}, round.leafData[role]))
    const leaves = LEAVES.filter((role) => !done(role)).map((role) => ({
      role,
      existing: read[role],
    }))
    const foreign = leaves.find((l) => l.existing !== undefined && !owned(l.existing))
    if (foreign?.existing) return refuse(foreign.existing, 'appeared while a new set was being written')
    if (leaves.length > 0) return { kind: 'continue-round', leaves }
    if (round.migrationCa !== undefined && input.certgen !== undefined) {
      const writes = certgenTrustWrites(input.certgen, round.migrationCa, certId(round.migrationCa))
      if (writes.length > 0) return { kind: 'extend-trust', writes }
    }
    return { kind: 'finalize', anchor: ca }
  }

  if (ca !== undefined && owned(ca) && ca.annotations[SecretAnnotations.setState] === 'writing') {
    // Unchanged for a while as seen here, or claimed long ago by the Secret's own account.
    const writtenAt = Date.parse(ca.annotations[SecretAnnotations.writtenAt] ?? '')
    const age = Math.max(input.pendingForMs, Number.isNaN(writtenAt) ? 0 : input.now - writtenAt)
    if (age < input.takeoverAfterMs) return { kind: 'wait', detail: `another replica is writing a new set (Secret ${ca.name} says set-state=writing)` }
    const foreign = presentSecrets(read).find((s) => !owned(s))
    if (foreign) return refuse(foreign, `would have to be replaced (takeover of a half-written step)`)
    return resumeStalled(read, ca, input.certgen, `Secret ${ca.name} has said set-state=writing for ${Math.round(age / 1000)}s; its writer is presumed gone`)
  }

  const present = presentSecrets(read)
  if (present.length === 0 && input.certgen !== undefined) {
    const migration = planMigration(input, input.certgen)
    if (migration !== undefined) return migration
  }
  const pieces = setFromSecrets(read)
  if (!('set' in pieces)) return guarded(read, owned, reasonFor(read), `${pieces.missing} is missing`)
  const managed = present.length === 3 && present.every(owned) && ca !== undefined
  if (!managed) return planForeign(input, read, owned, pieces.set)

  const loaded = stateFromSecrets(read)
  if (!('state' in loaded)) return guarded(read, owned, reasonFor(read), `${loaded.missing} is missing`)
  const { state } = loaded
  const record = readRoundRecord(ca)
  const { seen } = recordedTokens(read)
  const caRotate = (ca.annotations[RequestAnnotations.rotate] ?? '').trim()
  const revoke = (ca.annotations[RequestAnnotations.revoke] ?? '').trim()
  const rotateToken = [input.rotateToken, caRotate].find((tok) => tok !== '' && !seen.has(tok)) ?? ''
  const revocation = revoke !== '' && !record.revokeTokenHistory.includes(revoke)
  const decision = nextStep({
    state,
    phaseSince: record.phaseSince,
    now: input.now,
    check: input.check,
    propagationDelayMs: input.propagationDelayMs ?? DEFAULT_PROPAGATION_DELAY_MS,
    rotationRequested: rotateToken !== '',
    revocationRequested: revocation,
    stagedReason: isRoundReason(record.reason) ? record.reason : undefined,
  })
  if (decision.kind === 'none') {
    return { kind: 'use', set: pieces.set, state, secrets: { ca, contour: read.contour as StoredSecret, envoy: read.envoy as StoredSecret }, warnings: caWarnings(ca), nextAt: decision.nextAt }
  }
  const honours = { rotate: decision.reason === 'rotation' ? rotateToken : '', revoke: decision.reason === 'revocation' ? revoke : '' }
  const detail = decision.reason === 'rotation' && rotateToken !== '' ? `rotate token "${rotateToken}" is not recorded on the Secrets` : decision.detail
  return { kind: 'start-round', step: decision.step, reason: decision.reason, detail, anchor: ca, build: buildFor(decision.step, state, input.now), honours }
}

/**
 * No set of ours yet, and `contour certgen`'s is still good: take it over without an outage. Our
 * Secrets start as a staged round on certgen's state (its CA first and its leaves, which new pods
 * serve until the switch; our next CA beside it), and certgen's Secrets learn our CA, so that old
 * and new pods handshake both ways for the whole rollout; the switch comes a propagation delay later.
 */
function planMigration(input: PlanInput, certgen: ReadSecrets): Plan | undefined {
  const base = certgenState(certgen)
  if (base === undefined) return undefined
  const result = input.check(currentSet(base))
  if (!result.ok && result.reason !== 'renewal-due') return undefined
  const from = [certgen.ca, certgen.contour, certgen.envoy].filter((s): s is StoredSecret => s !== undefined).map((s) => s.name)
  return {
    kind: 'start-round',
    step: 'add-trust',
    reason: 'migration',
    detail: `Secrets ${from.join(', ')} hold a valid set: new pods serve it, our next CA is trusted beside it everywhere, and the leaves switch a propagation delay later`,
    anchor: undefined,
    build: { kind: 'fresh', base },
    honours: NO_TOKENS,
  }
}

function buildFor(step: StepKind, state: TrustState, now: number): StepBuild {
  switch (step) {
    case 'issue':
      return { kind: 'fresh', base: undefined }
    case 'add-trust':
      return { kind: 'fresh', base: state }
    case 'switch':
      return { kind: 'ready', target: switchLeaves(state) }
    case 'drop':
      return { kind: 'ready', target: dropExpired(state, now) }
  }
}

/** A set not (entirely) ours: use it while it is valid, say what was not done, never write over it. */
function planForeign(input: PlanInput, read: ReadSecrets, owned: (s: StoredSecret) => boolean, set: CertificateSet): Plan {
  const result = input.check(set)
  if (!result.ok && result.reason !== 'renewal-due') return guarded(read, owned, reasonFor(read), `${result.reason}: ${result.detail}`)
  const { seen } = recordedTokens(read)
  const rotation = input.rotateToken !== '' && !seen.has(input.rotateToken)
  if (result.ok && !rotation) return useOrCreateCa(read, set, [])
  const present = presentSecrets(read)
  if (present.every(owned)) {
    // Ours, but the CA Secret is missing: the set is valid, so it is renewed with a whole new one.
    return startFresh(rotation ? 'rotation' : 'renewal', rotation ? `rotate token "${input.rotateToken}" is not recorded on the Secrets` : result.ok ? '' : result.detail, read, rotation ? { rotate: input.rotateToken, revoke: '' } : NO_TOKENS)
  }
  const foreign = present.filter((s) => !owned(s)).map((s) => s.name)
  const whose = `${foreign.join(', ')} ${foreign.length > 1 ? 'were' : 'was'} not created by contour-tls-injector`
  const warning = rotation
    ? `rotation requested, but ${whose}: using the set as it is; rotate it with the tool that created it`
    : `the set is due for renewal, but ${whose}: using it as it is; renew it with the tool that created it`
  return useOrCreateCa(read, set, [warning])
}

/**
 * A claim whose writer is gone. The CA Secret already holds the step's target trust; each leaf's
 * target follows from it: the pair (current or staged) signed by the bundle's first CA, with the
 * staged pair kept only while staging. When a leaf cannot be derived (the writer died before
 * staging its fresh leaves), the step starts again on a fresh set, dropping the abandoned CA.
 */
function resumeStalled(read: ReadSecrets, ca: StoredSecret, certgen: ReadSecrets | undefined, detail: string): Plan {
  const record = readRoundRecord(ca)
  const step = record.step ?? 'issue'
  const reason: RoundReason = isRoundReason(record.reason) ? record.reason : 'takeover'
  const bundle = parseBundle(textOf(ca, 'ca.crt') ?? '')
  const restart = (): Plan => {
    if (step !== 'add-trust') return startFresh('takeover', detail, read, NO_TOKENS)
    // A migration's writer that died before staging: start it again on certgen's state.
    const base = reason === 'migration' && certgen !== undefined ? certgenState(certgen) : baseForRestage(read, bundle, record.nextCa)
    if (base === undefined) return startFresh('takeover', detail, read, NO_TOKENS)
    return { kind: 'start-round', step: 'add-trust', reason, detail: `${detail}; staging new leaves`, anchor: ca, build: { kind: 'fresh', base, abandonedCa: record.nextCa }, honours: NO_TOKENS }
  }
  if (bundle.length === 0) return restart()
  const signer = bundle[0] as string
  const nextCa = step === 'add-trust' ? bundle.find((pem) => record.nextCa !== undefined && certId(pem) === record.nextCa) : undefined
  if (step === 'add-trust' && nextCa === undefined) return restart()
  const leaves: Partial<Record<LeafRole, { pair: LeafPair; staged?: LeafPair }>> = {}
  for (const role of LEAVES) {
    const pairs = leafPairs(read[role])
    const pair = pairs.find((p) => signerIn([signer], p.cert) !== undefined)
    const staged = nextCa !== undefined ? pairs.find((p) => signerIn([nextCa], p.cert) !== undefined) : undefined
    if (pair === undefined || (step === 'add-trust' && staged === undefined)) return restart()
    leaves[role] = { pair, ...(staged ? { staged } : {}) }
  }
  const contour = leaves.contour as { pair: LeafPair; staged?: LeafPair }
  const envoy = leaves.envoy as { pair: LeafPair; staged?: LeafPair }
  const target: TrustState = {
    bundle,
    contour: contour.pair,
    envoy: envoy.pair,
    ...(contour.staged && envoy.staged ? { staged: { contour: contour.staged, envoy: envoy.staged } } : {}),
  }
  return { kind: 'start-round', step, reason, detail: `${detail}; finishing its ${step} step`, anchor: ca, build: { kind: 'ready', target }, honours: NO_TOKENS }
}

/** The current leaves with the claimed trust minus the abandoned next CA: what a restaged round builds on. */
function baseForRestage(read: ReadSecrets, bundle: readonly string[], abandoned: string | undefined): TrustState | undefined {
  const kept = bundle.filter((pem) => abandoned === undefined || certId(pem) !== abandoned)
  const signer = kept[0]
  if (signer === undefined) return undefined
  const pair = (role: LeafRole) => leafPairs(read[role]).find((p) => signerIn([signer], p.cert) !== undefined)
  const contour = pair('contour')
  const envoy = pair('envoy')
  return contour && envoy ? { bundle: kept, contour, envoy } : undefined
}

function leafPairs(secret: StoredSecret | undefined): LeafPair[] {
  return [leafPairOf(secret, 'tls.crt', 'tls.key'), leafPairOf(secret, STAGED_KEYS.cert, STAGED_KEYS.key)].filter((p): p is LeafPair => p !== undefined)
}


function reasonFor(read: ReadSecrets): RoundReason {
  const n = presentSecrets(read).length
  return n === 0 ? 'missing' : n < 3 ? 'incomplete' : 'invalid'
}

function caWarnings(ca: StoredSecret): string[] {
  // A CA Secret made by another tool may carry the CA's key: say so, since every pod mounts it.
  const extra = Object.keys(ca.data).filter((k) => k !== 'ca.crt')
  return extra.length > 0 ? [`Secret ${ca.name} holds more than ca.crt (${extra.join(', ')}); every Contour and Envoy pod mounts it`] : []
}

function useOrCreateCa(read: ReadSecrets, set: CertificateSet, warnings: string[]): Plan {
  if (read.ca === undefined || read.contour === undefined || read.envoy === undefined) return { kind: 'create-ca', set, warnings }
  return { kind: 'use', set, state: undefined, secrets: { ca: read.ca, contour: read.contour, envoy: read.envoy }, warnings: [...warnings, ...caWarnings(read.ca)], nextAt: undefined }
}

/** A new set replaces every Secret present: refuse if one of them is not ours. */
function guarded(read: ReadSecrets, owned: (s: StoredSecret) => boolean, reason: RoundReason, detail: string): Plan {
  const foreign = presentSecrets(read).find((s) => !owned(s))
  if (foreign) return refuse(foreign, `would have to be replaced (${reason}: ${detail})`)
  return startFresh(reason, reason === 'missing' ? '' : detail, read, NO_TOKENS)
}

function startFresh(reason: RoundReason, detail: string, read: ReadSecrets, honours: { rotate: string; revoke: string }): Plan {
  return { kind: 'start-round', step: 'issue', reason, detail, anchor: read.ca, build: { kind: 'fresh', base: undefined }, honours }
}

function refuse(secret: StoredSecret, why: string): Plan {
  return {
    kind: 'refuse',
    secret: secret.name,
    detail: `Secret ${secret.name} was not created by contour-tls-injector (no label app.kubernetes.io/managed-by=contour-tls-injector) and ${why}; fix or delete it yourself`,
  }
}

/**
 * A Secret is ours when it carries our label, or when it carries the fingerprint annotation of a
 * set whose other Secrets carry the label (a Secret of our set that lost its label).
 */
function ownership(read: ReadSecrets): (s: StoredSecret) => boolean {
  const ours = new Set(
    presentSecrets(read)
      .filter(isManaged)
      .map((s) => s.annotations[SecretAnnotations.fingerprint])
      .filter((f): f is string => f !== undefined && f !== ''),
  )
  return (s) => isManaged(s) || ours.has(s.annotations[SecretAnnotations.fingerprint] ?? '')
}

function presentSecrets(read: ReadSecrets): StoredSecret[] {
  return [read.ca, read.contour, read.envoy].filter((s): s is StoredSecret => s !== undefined)
}
