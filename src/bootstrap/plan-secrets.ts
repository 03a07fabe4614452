// The pure decision at the heart of `bootstrap-tls --role=contour`: given what the three Secrets
// hold now, what to do next. No I/O: ensure-secrets.ts reads, asks, writes, and asks again.
//
// Three Secrets cannot be written atomically, so one of them, the CA Secret, is the lock:
// 1. claim: a new set starts with a guarded write of the CA Secret (create-if-absent, or a replace
//    carrying the resourceVersion that was read), marked `set-state: writing`. Of several
//    replicas at most one wins; the others get 409, re-read and wait.
// 2. the winner writes both leaf Secrets (guarded the same way);
// 3. finalize: the winner rewrites the CA Secret, guarded by the resourceVersion of its claim,
//    as `set-state: complete`.
// Nobody uses a set while its CA Secret says `writing`, and every change of a leaf is followed by
// a change of the CA Secret, so a write planned on a stale read always fails with 409: a set
// that anybody has used is never overwritten by a race. A claim left `writing` (its writer died)
// is taken over, again by a guarded write, once it has been unchanged for takeoverAfterMs.
import type { CertificateSet, CheckResult } from '../core/certs/types.ts'
import {
  isManaged,
  recordedTokens,
  SecretAnnotations,
  setFromSecrets,
  type ReadSecrets,
  type SecretNames,
  type SecretRole,
  type StoredSecret,
} from './secret-model.ts'

export interface OwnRound {
  readonly fingerprint: string
  /** resourceVersion of the CA Secret as this process claimed it. */
  readonly caResourceVersion: string
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
}

export type RoundReason = 'missing' | 'incomplete' | 'invalid' | 'renewal' | 'rotation' | 'takeover'
export type LeafRole = Exclude<SecretRole, 'ca'>

export type Plan =
  /** The Secrets hold a complete, usable set: done. `warnings` say what could not be done (foreign set). */
  | { readonly kind: 'use'; readonly set: CertificateSet; readonly secrets: Readonly<Record<SecretRole, StoredSecret>>; readonly warnings: readonly string[] }
  /** Valid leaves but no CA Secret: create it from the leaves' ca.crt (no new set). */
  | { readonly kind: 'create-ca'; readonly set: CertificateSet; readonly warnings: readonly string[] }
  /** Issue a new set and claim the CA Secret (create if `anchor` is absent, else guarded replace). */
  | { readonly kind: 'start-round'; readonly reason: RoundReason; readonly detail: string; readonly anchor: StoredSecret | undefined }
  /** This process holds the claim: write these leaves (create if absent, else guarded replace). */
  | { readonly kind: 'continue-round'; readonly leaves: ReadonlyArray<{ readonly role: LeafRole; readonly existing: StoredSecret | undefined }> }
  /** This process holds the claim and the leaves are written: mark the CA Secret complete. */
  | { readonly kind: 'finalize'; readonly anchor: StoredSecret }
  /** Another writer holds the claim. */
  | { readonly kind: 'wait'; readonly detail: string }
  /** Going on would overwrite a Secret this product did not create. */
  | { readonly kind: 'refuse'; readonly secret: string; readonly detail: string }

const LEAVES: readonly LeafRole[] = ['contour', 'envoy']

export function planSecrets(input: PlanInput): Plan {
  const { read, round } = input
  const owned = ownership(read)
  const ca = read.ca

  if (round !== undefined && ca !== undefined && ca.resourceVersion === round.caResourceVersion) {
    const leaves = LEAVES.filter((role) => read[role]?.annotations[SecretAnnotations.fingerprint] !== round.fingerprint).map((role) => ({
      role,
      existing: read[role],
    }))
    const foreign = leaves.find((l) => l.existing !== undefined && !owned(l.existing))
    if (foreign?.existing) return refuse(foreign.existing, 'appeared while a new set was being written')
    return leaves.length > 0 ? { kind: 'continue-round', leaves } : { kind: 'finalize', anchor: ca }
  }

  if (ca !== undefined && owned(ca) && ca.annotations[SecretAnnotations.setState] === 'writing') {
    // Unchanged for a while as seen here, or claimed long ago by the Secret's own account.
    const writtenAt = Date.parse(ca.annotations[SecretAnnotations.writtenAt] ?? '')
    const age = Math.max(input.pendingForMs, Number.isNaN(writtenAt) ? 0 : input.now - writtenAt)
    if (age < input.takeoverAfterMs) return { kind: 'wait', detail: `another replica is writing a new set (Secret ${ca.name} says set-state=writing)` }
    return guarded(read, owned, 'takeover', `Secret ${ca.name} has said set-state=writing for ${Math.round(age / 1000)}s; its writer is presumed gone`)
  }

  const pieces = setFromSecrets(read)
  if (!('set' in pieces)) return guarded(read, owned, reasonFor(read), `${pieces.missing} is missing`)
  const result = input.check(pieces.set)
  if (!result.ok && result.reason !== 'renewal-due') return guarded(read, owned, reasonFor(read), `${result.reason}: ${result.detail}`)

  const { seen } = recordedTokens(read)
  const rotation = input.rotateToken !== '' && !seen.has(input.rotateToken)
  if (result.ok && !rotation) return useOrCreateCa(read, pieces.set, [])
  const present = presentSecrets(read)
  if (present.every(owned)) {
    return rotation
      ? startRound('rotation', `rotate token "${input.rotateToken}" is not recorded on the Secrets`, read)
      : startRound('renewal', result.ok ? '' : result.detail, read)
  }
  // A valid set of someone else's is still valid: use it, and say what was not done.
  const foreign = present.filter((s) => !owned(s)).map((s) => s.name)
  const whose = `${foreign.join(', ')} ${foreign.length > 1 ? 'were' : 'was'} not created by contour-tls-injector`
  const warning = rotation
    ? `rotation requested, but ${whose}: using the set as it is; rotate it with the tool that created it`
    : `the set is due for renewal, but ${whose}: using it as it is; renew it with the tool that created it`
  return useOrCreateCa(read, pieces.set, [warning])
}

function reasonFor(read: ReadSecrets): RoundReason {
  const n = presentSecrets(read).length
  return n === 0 ? 'missing' : n < 3 ? 'incomplete' : 'invalid'
}

function useOrCreateCa(read: ReadSecrets, set: CertificateSet, warnings: string[]): Plan {
  if (read.ca === undefined || read.contour === undefined || read.envoy === undefined) return { kind: 'create-ca', set, warnings }
  // A CA Secret made by another tool may carry the CA's key: say so, since every pod mounts it.
  const extra = Object.keys(read.ca.data).filter((k) => k !== 'ca.crt')
  const caWarning = extra.length > 0 ? [`Secret ${read.ca.name} holds more than ca.crt (${extra.join(', ')}); every Contour and Envoy pod mounts it`] : []
  return { kind: 'use', set, secrets: { ca: read.ca, contour: read.contour, envoy: read.envoy }, warnings: [...warnings, ...caWarning] }
}

/** A new set replaces every Secret present: refuse if one of them is not ours. */
function guarded(read: ReadSecrets, owned: (s: StoredSecret) => boolean, reason: RoundReason, detail: string): Plan {
  const foreign = presentSecrets(read).find((s) => !owned(s))
  if (foreign) return refuse(foreign, `would have to be replaced (${reason}: ${detail})`)
  return startRound(reason, reason === 'missing' ? '' : detail, read)
}

function startRound(reason: RoundReason, detail: string, read: ReadSecrets): Plan {
  return { kind: 'start-round', reason, detail, anchor: read.ca }
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
