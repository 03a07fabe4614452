// The I/O loop around plan-secrets.ts: read the three Secrets, decide, write, and on any 409
// read again, until the Secrets hold one coherent, usable set. Never logs Secret data.
import { InjectorError } from '../errors.ts'
import type { CertificateSet, CheckResult } from '../core/certs/types.ts'
import type { Clock } from './clock.ts'
import { formatDuration } from './duration.ts'
import { BootstrapErrorCodes } from './exit-codes.ts'
import { planSecrets, type OwnRound, type Plan } from './plan-secrets.ts'
import { addTrust, certId, currentSet, issueFresh, phaseOf, signerIn, type StepKind, type TrustState } from '../core/rotation/trust-state.ts'
import { withRetry } from './retry.ts'
import { describeSet, outcomeText, roundText, tryWrite, type Call, type EnsureOutcome } from './secret-io.ts'
import {
  appendHistory,
  buildSecretWrite,
  nextTokens,
  readRoundRecord,
  SecretAnnotations,
  SECRET_ROLES,
  type ReadSecrets,
  type SecretNames,
  type SecretRole,
  type SetRecord,
  type StoredSecret,
} from './secret-model.ts'
import { isStoreError, type SecretEvent, type SecretStore } from './secret-store.ts'

export interface EnsureOptions {
  readonly store: SecretStore
  readonly names: SecretNames
  readonly rotateToken: string
  /** Issues a fresh set (issueCertificateSet bound to the namespace and issue flags). */
  readonly issue: () => Promise<CertificateSet>
  /** checkCertificateSet bound to the clock. */
  readonly check: (set: CertificateSet) => CheckResult
  readonly fingerprint: (set: CertificateSet) => string
  readonly clock: Clock
  readonly deadline: number
  readonly log: (line: string) => void
  readonly signal?: AbortSignal
  /** How long a half-written set may stay unchanged before its writer is presumed gone. */
  readonly takeoverAfterMs?: number
  /** How long after new trust is written the leaves may switch (plan-secrets' default if absent). */
  readonly propagationDelayMs?: number
  /** Pause between reads while another replica is writing. */
  readonly pollMs?: number
  readonly progressEveryMs?: number
  /**
   * Called once when a new set becomes likely (the first read finds no CA Secret), before the
   * leaves are read: lets the caller start loading the issuer while the reads are in flight.
   */
  readonly prepareIssue?: () => void
  /**
   * The last result of this process (the sidecar's previous pass). When the CA Secret still has the
   * resourceVersion it had then and nothing falls due before now, one read settles it: every step
   * of the protocol, and every rotate or revoke request, changes the CA Secret.
   */
  readonly previous?: EnsuredSecrets
  /** `contour certgen`'s Secrets of this instance: a first set takes them over without an outage (see planMigration). */
  readonly certgenNames?: SecretNames
}

export type { EnsureOutcome }

export interface EnsuredSecrets {
  readonly secrets: Readonly<Record<SecretRole, StoredSecret>>
  readonly fingerprint: string
  readonly notAfter: Date
  /** 'created'/'renewed'/'rotated' when this process wrote the set, 'adopted' when another did meanwhile. */
  readonly outcome: EnsureOutcome
  /** The steps this call completed, in order (each claim that this process finalized), and why. */
  readonly steps: ReadonlyArray<{ readonly step: StepKind; readonly reason: string }>
  /** When the next step falls due (switch, drop, renewal), for a set this product manages. */
  readonly nextAt: number | undefined
  /** The trust state, for a set this product manages. */
  readonly state: TrustState | undefined
}

export const DEFAULT_TAKEOVER_AFTER_MS = 20_000
export const DEFAULT_POLL_MS = 1000

interface Round extends OwnRound {
  readonly target: TrustState
  readonly record: SetRecord
  readonly outcome: EnsureOutcome
  readonly step: StepKind
}

export async function ensureSecrets(opts: EnsureOptions): Promise<EnsuredSecrets> {
  const { clock, log, names } = opts
  const takeoverAfterMs = opts.takeoverAfterMs ?? DEFAULT_TAKEOVER_AFTER_MS
  const pollMs = opts.pollMs ?? DEFAULT_POLL_MS
  const progressEveryMs = opts.progressEveryMs ?? 5000
  const call: Call = (what, op) => withRetry(what, op, { clock, deadline: opts.deadline, signal: opts.signal, log })

  const pause = (): Promise<void> => clock.sleep(50 + clock.random() * 150, opts.signal)
  let round: Round | undefined
  let wrote: Round | undefined
  let lostRace = false
  const steps: Array<{ step: StepKind; reason: string }> = []
  let pending: { key: string; since: number; lastLog: number } | undefined
  // The latest observation of the CA Secret, when nothing but this process's own writes can
  // have happened since: it serves as the leading read of the next snapshot (see readSnapshot).
  let knownCa: CaObservation | undefined
  let prepared = false
  const prepareIssue = (): void => {
    if (prepared) return
    prepared = true
    opts.prepareIssue?.()
  }

  // certgen's Secrets matter only before our first set exists, and while a migration's claim is open.
  let certgenReadable = opts.certgenNames !== undefined
  const needsCertgen = (read: ReadSecrets): boolean =>
    certgenReadable && (read.ca === undefined ? read.contour === undefined && read.envoy === undefined : readRoundRecord(read.ca).reason === 'migration' && read.ca.annotations[SecretAnnotations.setState] === 'writing')
  const readCertgen = async (): Promise<ReadSecrets | undefined> => {
    const cg = opts.certgenNames as SecretNames
    try {
      const [ca, contour, envoy] = await Promise.all([cg.ca, cg.contour, cg.envoy].map((name) => call(`get Secret ${name}`, () => opts.store.get(name))))
      return ca === undefined && contour === undefined && envoy === undefined ? undefined : { ca, contour, envoy }
    } catch (err) {
      if (!isStoreError(err, 'forbidden')) throw err
      log(`warning: may not read contour certgen's Secrets (${err.message}); a new set starts without the certgen overlap (grant get/update on them: the chart does)`)
      certgenReadable = false
      return undefined
    }
  }

  const previous = opts.previous
  if (previous !== undefined && (previous.nextAt === undefined || clock.now() < previous.nextAt)) {
    const ca = await call(`get Secret ${names.ca}`, () => opts.store.get(names.ca))
    if (ca !== undefined && ca.resourceVersion === previous.secrets.ca.resourceVersion) return { ...previous, outcome: 'used', steps: [] }
    knownCa = { ca }
  }

  for (;;) {
    if (opts.signal?.aborted) throw new InjectorError(BootstrapErrorCodes.ERR_INTERRUPTED, 'stopped by a signal')
    if (clock.now() > opts.deadline) {
      throw new InjectorError(BootstrapErrorCodes.ERR_WAIT_TIMEOUT, 'timed out before the Secrets settled on one set')
    }
    const read = await readSnapshot(opts.store, names, call, () => clock.now() > opts.deadline, knownCa, prepareIssue)
    knownCa = { ca: read.ca }
    const certgen = needsCertgen(read) ? await readCertgen() : undefined
    const key = SECRET_ROLES.map((r) => read[r]?.resourceVersion ?? '-').join('/')
    const now = clock.now()
    const plan: Plan = planSecrets({
      names,
      read,
      check: opts.check,
      rotateToken: opts.rotateToken,
      round,
      now,
      pendingForMs: pending?.key === key ? now - pending.since : 0,
      takeoverAfterMs,
      propagationDelayMs: opts.propagationDelayMs,
      certgen,
    })
    if (plan.kind !== 'wait') pending = undefined

    switch (plan.kind) {
      case 'use': {
        for (const w of plan.warnings) log(`warning: ${w}`)
        const info = describeSet(plan.set, opts.fingerprint)
        const outcome: EnsureOutcome = wrote?.fingerprint === info.fingerprint ? wrote.outcome : lostRace ? 'adopted' : 'used'
        const next = plan.nextAt !== undefined ? `; next step due ${new Date(plan.nextAt).toISOString()}` : ''
        log(`${outcomeText(outcome)} set ${info.fingerprint.slice(0, 16)} in Secrets ${names.ca}, ${names.contour}, ${names.envoy} (not after ${info.notAfter.toISOString()}${plan.state ? `, phase ${phaseText(plan.state)}` : ''}${next})`)
        return { secrets: plan.secrets, ...info, outcome, steps, nextAt: plan.nextAt, state: plan.state }
      }
      case 'refuse':
        throw new InjectorError(BootstrapErrorCodes.ERR_FOREIGN_SECRET, plan.detail)
      case 'wait': {
        if (pending?.key !== key) pending = { key, since: now, lastLog: -Infinity }
        if (now - pending.lastLog >= progressEveryMs) {
          log(`waiting: ${plan.detail} (${formatDuration(now - pending.since)} so far)`)
          pending.lastLog = now
        }
        if (now >= opts.deadline) {
          throw new InjectorError(BootstrapErrorCodes.ERR_WAIT_TIMEOUT, `timed out: ${plan.detail}`)
        }
        lostRace = true
        knownCa = undefined // another writer is at work: the CA Secret will likely change
        await clock.sleep(Math.min(pollMs * (0.75 + clock.random() / 2), opts.deadline - now), opts.signal)
        break
      }
      case 'create-ca': {
        for (const w of plan.warnings) log(`warning: ${w}`)
        const info = describeSet(plan.set, opts.fingerprint)
        const record: SetRecord = { ...info, writtenAt: new Date(clock.now()), ...nextTokens(read, '') }
        const write = buildSecretWrite('ca', names.ca, plan.set, record)
        const written = await tryWrite(`create Secret ${names.ca}`, () => opts.store.create(write), call, log, pause)
        knownCa = written ? { ca: written } : undefined
        if (written) {
          log(`created Secret ${names.ca} from the CA certificate the leaf Secrets carry`)
        } else lostRace = true
        break
      }
      case 'start-round': {
        log(`${stepText(plan.step)}: ${roundText(plan.reason)}${plan.detail ? ` (${plan.detail})` : ''}`)
        let target: TrustState
        if (plan.build.kind === 'ready') target = plan.build.target
        else {
          const fresh = await opts.issue()
          const checked = opts.check(fresh)
          if (!checked.ok) throw new InjectorError(BootstrapErrorCodes.ERR_CONFIG, `the newly issued set does not pass its own check: ${checked.reason}: ${checked.detail}`)
          target = plan.build.base ? addTrust(plan.build.base, fresh, plan.build.abandonedCa) : issueFresh(fresh)
        }
        const targetSet = currentSet(target)
        const checked = opts.check(targetSet)
        // While staging, the current leaves may well be inside their renewal window: that is why.
        if (!checked.ok && !(checked.reason === 'renewal-due' && target.staged !== undefined)) {
          throw new InjectorError(BootstrapErrorCodes.ERR_CONFIG, `the ${plan.step} step would write a set that does not pass its own check: ${checked.reason}: ${checked.detail}`)
        }
        const info = describeSet(targetSet, opts.fingerprint)
        const now = new Date(clock.now())
        const previous = readRoundRecord(read.ca)
        const stagedCa = target.staged ? signerIn(target.bundle, target.staged.contour.cert) : undefined
        const record: SetRecord = {
          ...info,
          writtenAt: now,
          ...nextTokens(read, plan.honours.rotate),
          round: {
            step: plan.step,
            reason: plan.step === 'drop' ? (previous.reason ?? plan.reason) : plan.reason,
            phaseSince: now,
            ...(stagedCa ? { nextCa: certId(stagedCa) } : {}),
            revokeTokenHistory: appendHistory(previous.revokeTokenHistory, plan.honours.revoke),
          },
        }
        const anchor = plan.anchor
        const write = buildSecretWrite('ca', names.ca, target, record, anchor, 'writing')
        const written = await tryWrite(
          `${anchor ? 'replace' : 'create'} Secret ${names.ca}`,
          () => (anchor ? opts.store.replace(write, anchor.resourceVersion) : opts.store.create(write)),
          call,
          log,
          pause,
        )
        const outcome = outcomeOf(plan.step, plan.reason)
        knownCa = written ? { ca: written } : undefined
        if (written) {
          const leafData = {
            contour: buildSecretWrite('contour', names.contour, target, record).data,
            envoy: buildSecretWrite('envoy', names.envoy, target, record).data,
          }
          const migrationCa = plan.reason === 'migration' && stagedCa !== undefined ? stagedCa : undefined
          round = { target, record, outcome, step: plan.step, fingerprint: record.fingerprint, caResourceVersion: written.resourceVersion, leafData, ...(migrationCa ? { migrationCa } : {}) }
          wrote = round
        } else {
          lostRace = true
          round = undefined
        }
        break
      }
      case 'finalize': {
        const current = round
        if (current === undefined) throw new Error('finalize without a round')
        // The step is complete everywhere now: its phase starts (the switch's delay counts from here).
        const finalRecord: SetRecord = current.record.round ? { ...current.record, round: { ...current.record.round, phaseSince: new Date(clock.now()) } } : current.record
        const write = buildSecretWrite('ca', names.ca, current.target, finalRecord, plan.anchor, 'complete')
        const written = await tryWrite(`mark Secret ${names.ca} complete`, () => opts.store.replace(write, plan.anchor.resourceVersion), call, log, pause)
        knownCa = written ? { ca: written } : undefined
        if (written) {
          steps.push({ step: current.step, reason: current.record.round?.reason ?? '' })
          await opts.store.recordEvent?.(eventFor(current, names.ca))
        }
        // Either way the claim is spent: next time round the set is used, or someone else's adopted.
        round = undefined
        break
      }
      case 'extend-trust': {
        // certgen's Secrets are someone else's: only their trust keys change, each write guarded.
        for (const { write, resourceVersion } of plan.writes) {
          const written = await tryWrite(`add the next CA to the trust of Secret ${write.name}`, () => opts.store.replace(write, resourceVersion), call, log, pause)
          if (written === undefined) break
        }
        break
      }
      case 'continue-round': {
        const current = round
        if (current === undefined) throw new Error('continue-round without a round')
        // The leaves are independent: written at once. If either write loses a race the loop reads
        // again, as it would after a sequential write; a failure that is not a race ends the run
        // once both writes have settled.
        const results = await Promise.allSettled(
          plan.leaves.map(({ role, existing }) => {
            const write = buildSecretWrite(role, names[role], current.target, current.record, existing)
            return tryWrite(
              `${existing ? 'replace' : 'create'} Secret ${write.name}`,
              () => (existing ? opts.store.replace(write, existing.resourceVersion) : opts.store.create(write)),
              call,
              log,
              pause,
            )
          }),
        )
        const failed = results.find((r) => r.status === 'rejected')
        if (failed) throw failed.reason
        if (results.some((r) => r.status === 'fulfilled' && r.value === undefined)) knownCa = undefined
        break
      }
    }
  }
}

/** An observation of the CA Secret; `ca` undefined: it did not exist. */
interface CaObservation {
  readonly ca: StoredSecret | undefined
}

/**
 * A consistent snapshot: the leaves (both at once) framed by two reads of the CA Secret, until it
 * did not change in between. Every change of a leaf by the protocol happens while the CA Secret
 * holds a claim that is changed afterwards (finalize), so writes guarded by what this snapshot
 * saw can never land on a state it did not see. Reading all three at once could pair a new CA
 * Secret with old leaves and make a finished set look broken.
 *
 * The leading read may be any earlier observation (`known`): the trailing read of the previous
 * snapshot, or the answer to this process's own write of the CA Secret. If the CA Secret still has
 * that resourceVersion after the leaves were read, it did not change in between either, so one
 * round trip is saved on every pass but the first. When it did change, the trailing read becomes
 * the leading read of another attempt, as before.
 */
async function readSnapshot(
  store: SecretStore,
  names: SecretNames,
  call: Call,
  pastDeadline: () => boolean,
  known: CaObservation | undefined,
  onCaAbsent: () => void,
): Promise<ReadSecrets> {
  const get = (role: SecretRole): Promise<StoredSecret | undefined> => call(`get Secret ${names[role]}`, () => store.get(names[role]))
  let ca = known ? known.ca : await get('ca')
  if (ca === undefined) onCaAbsent()
  for (;;) {
    const [contour, envoy] = await Promise.all([get('contour'), get('envoy')])
    const again = await get('ca')
    if (again?.resourceVersion === ca?.resourceVersion) return { ca: again, contour, envoy }
    if (pastDeadline()) throw new InjectorError(BootstrapErrorCodes.ERR_WAIT_TIMEOUT, `timed out: Secret ${names.ca} kept changing while the Secrets were read`)
    ca = again
  }
}

function outcomeOf(step: StepKind, reason: string): EnsureOutcome {
  if (step === 'add-trust') return 'staged'
  if (step === 'switch') return 'switched'
  if (step === 'drop') return 'dropped'
  if (reason === 'revocation') return 'revoked'
  if (reason === 'rotation') return 'rotated'
  return reason === 'renewal' || reason === 'invalid' || reason === 'takeover' ? 'renewed' : 'created'
}

function eventFor(round: Round, caSecret: string): SecretEvent {
  const reason = round.record.round?.reason ?? ''
  const fp = round.fingerprint.slice(0, 16)
  const cas = round.target.bundle.length
  const byStep: Record<StepKind, { reason: string; message: string }> = {
    issue:
      reason === 'revocation'
        ? { reason: 'SetRevoked', message: `revocation: a new set ${fp} now, every earlier CA dropped; pods whose files lag cannot handshake until the kubelet refreshes them` }
        : { reason: reason === 'missing' || reason === 'incomplete' ? 'SetCreated' : 'SetReplaced', message: `a new set ${fp} (${reason})` },
    'add-trust': { reason: 'TrustAdded', message: `${reason}: a next CA is trusted beside the current one (${cas} CAs) and its leaves are staged; the leaves switch a propagation delay from now` },
    switch: { reason: 'LeavesSwitched', message: `${reason}: both leaves now come from the next CA (set ${fp}); ${cas - 1} earlier CA${cas === 2 ? ' stays' : 's stay'} trusted until ${cas === 2 ? 'it expires' : 'they expire'}` },
    drop: { reason: 'TrustDropped', message: `expired CAs dropped from the trust bundle: ${cas} left` },
  }
  const picked = byStep[round.step]
  return { secretName: caSecret, type: picked.reason === 'SetRevoked' ? 'Warning' : 'Normal', ...picked }
}

function stepText(step: StepKind): string {
  return { issue: 'writing a new set', 'add-trust': 'trusting a next CA beside the current one and staging its leaves', switch: 'switching both leaves to the next CA', drop: 'dropping expired CAs from the trust bundle' }[step]
}

function phaseText(state: TrustState): string {
  const phase = phaseOf(state)
  const cas = state.bundle.length
  return phase === 'trusting' ? `trusting (${cas} CAs, next leaves staged)` : phase === 'overlap' ? `overlap (${cas} CAs trusted)` : phase
}
