// Which step of the phased rotation is due, given a complete trust state and the clock. Pure.
//
// Order of precedence: a revocation; a broken current set (nothing works, so a fresh set at once);
// then, while next leaves are staged, the switch once every pod can have seen the new trust
// (propagationDelayMs after it was written); otherwise dropping CAs that expired, then a rotation
// asked for, then renewal. A rotation asked for while leaves are staged restages them.
import type { CertificateSet, CheckResult } from '../certs/types.ts'
import { currentSet, expiredTrust, notAfterOf, stagedSet, type StepKind, type TrustState } from './trust-state.ts'

export const ROUND_REASONS = ['missing', 'incomplete', 'invalid', 'renewal', 'rotation', 'revocation', 'migration', 'takeover'] as const
export type RoundReason = (typeof ROUND_REASONS)[number]

/** A reason as read back from an annotation; anything else is not one. */
export function isRoundReason(value: string | undefined): value is RoundReason {
  return (ROUND_REASONS as readonly (string | undefined)[]).includes(value)
}

export interface StepInput {
  readonly state: TrustState
  /** When the last step completed (for a staged state: when the new trust was written); undefined if unknown. */
  readonly phaseSince: number | undefined
  readonly now: number
  /** checkCertificateSet bound to the clock and renewal fraction. */
  readonly check: (set: CertificateSet) => CheckResult
  readonly propagationDelayMs: number
  /** A rotate token nobody has honoured yet (pod template or CA Secret annotation). */
  readonly rotationRequested: boolean
  /** A revoke token nobody has honoured yet. */
  readonly revocationRequested: boolean
  /** Why the staged round was started, so a restaged round keeps its reason. */
  readonly stagedReason?: RoundReason
}

export type StepDecision =
  | { readonly kind: 'step'; readonly step: StepKind; readonly reason: RoundReason; readonly detail: string }
  /** Nothing to do; `nextAt` is when something will be (renewal, switch, a CA's expiry). */
  | { readonly kind: 'none'; readonly nextAt: number | undefined; readonly current: Extract<CheckResult, { ok: true }> }

export function nextStep(input: StepInput): StepDecision {
  const { state, now } = input
  if (input.revocationRequested) return step('issue', 'revocation', 'revocation requested: a new set now, the old CA dropped at once')
  const current = input.check(currentSet(state))
  const broken = !current.ok && current.reason !== 'renewal-due'

  if (state.staged !== undefined) {
    const staged = input.check(stagedSet(state) as CertificateSet)
    if (!staged.ok) {
      if (broken) return step('issue', 'invalid', `${current.reason}: ${current.detail}; the staged leaves are no good either (${staged.reason})`)
      return step('add-trust', input.stagedReason ?? 'renewal', `the staged leaves are no good (${staged.reason}: ${staged.detail}); staging new ones`)
    }
    if (input.rotationRequested) return step('add-trust', 'rotation', 'rotation requested while leaves were staged: staging new ones')
    if (broken) return step('switch', input.stagedReason ?? 'renewal', `${current.reason}: ${current.detail}; switching to the staged leaves now`)
    const dueAt = (input.phaseSince ?? now) + input.propagationDelayMs
    if (now >= dueAt) return step('switch', input.stagedReason ?? 'renewal', `the new trust was written ${Math.round((now - (input.phaseSince ?? now)) / 1000)}s ago`)
    // The current leaves may be inside their renewal window (that is why the round runs): report the staged ones then.
    return none(dueAt, current.ok ? current : staged)
  }

  if (broken) return step('issue', 'invalid', `${current.reason}: ${current.detail}`)
  const expired = expiredTrust(state, now)
  if (expired.length > 0) return step('drop', 'renewal', `${expired.length} trusted CA${expired.length > 1 ? 's have' : ' has'} expired`)
  if (input.rotationRequested) return step('add-trust', 'rotation', 'rotation requested')
  if (!current.ok) return step('add-trust', 'renewal', current.detail)
  const others = state.bundle.slice(1).map(notAfterOf)
  return none(Math.min(current.renewAt.getTime(), ...others), current)
}

function step(kind: StepKind, reason: RoundReason, detail: string): StepDecision {
  return { kind: 'step', step: kind, reason, detail }
}

function none(nextAt: number, current: Extract<CheckResult, { ok: true }>): StepDecision {
  return { kind: 'none', nextAt: Number.isFinite(nextAt) ? nextAt : undefined, current }
}
