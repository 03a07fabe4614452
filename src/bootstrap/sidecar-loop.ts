// `--sidecar`: once the set is in place, bootstrap-tls stays running as the Contour pod's native
// sidecar and ensures the set again, with the very options of the first pass: so renewal, the
// phased rotation's later steps (switch, drop) and rotate or revoke requests on the CA Secret
// happen while the pod runs, not only at its next start. It wakes every --poll-interval
// (jittered), or when the set's next step falls due if that is sooner. A pass hands ensureSecrets
// the previous result, so when the CA Secret is unchanged and nothing is due it costs one GET (a
// full read every FULL_PASS_EVERY_MS also notices leaf Secrets changed behind its back), and it
// logs nothing. A failing API is logged and tried again sooner, never fatal; SIGTERM ends the
// loop at once with success. Between passes it keeps that one previous result (the three
// Secrets as read, a few KB) and nothing else: no lines, no timers, no connections.
import { InjectorError } from '../errors.ts'
import type { Clock } from './clock.ts'
import { formatDuration } from './duration.ts'
import { ensureSecrets, type EnsuredSecrets, type EnsureOptions } from './ensure-secrets.ts'

/** What a pass needs: ensureSecrets's options, built once; each pass gets its own deadline and previous result. */
export type PassOptions = Omit<EnsureOptions, 'deadline' | 'previous'>

export interface SidecarLoopOptions {
  readonly pass: PassOptions
  /** The result of the first pass (the set now in place). */
  readonly first: EnsuredSecrets
  readonly pollIntervalMs: number
  /** How long one pass may take (the role's --wait-timeout). */
  readonly passTimeoutMs: number
  readonly clock: Clock
  readonly log: (line: string) => void
  readonly signal?: AbortSignal
  /** After each pass, ok or not: e.g. close idle API connections until the next one. */
  readonly afterPass?: () => void
  /** Each pass's result (or undefined when it failed): the lifecycle metrics follow it. */
  readonly onPass?: (ensured: EnsuredSecrets | undefined) => void
}

/** Each poll is the interval +-20%, so replicas started together spread out. */
export const POLL_JITTER = 0.2
/** First retry after a failed pass; doubled on each further failure, never past the poll interval. */
export const RETRY_AFTER_FAILURE_MS = 30_000
/** A step that is due (or overdue) is not run sooner than this after the previous pass. */
export const MIN_WAKE_MS = 1000
/** Every so often a pass reads all three Secrets instead of trusting an unchanged CA Secret. */
export const FULL_PASS_EVERY_MS = 6 * 3_600_000

/** The pause before the next pass: after failures a backoff, else the jittered poll or the next step's due time. */
export function nextDelay(opts: { pollIntervalMs: number; failures: number; random: number; dueInMs?: number }): number {
  const { pollIntervalMs, failures, random } = opts
  const jitter = (ms: number): number => Math.round(ms * (1 - POLL_JITTER + 2 * POLL_JITTER * random))
  if (failures > 0) return jitter(Math.min(pollIntervalMs, RETRY_AFTER_FAILURE_MS * 2 ** Math.min(failures - 1, 20)))
  const poll = jitter(pollIntervalMs)
  return opts.dueInMs === undefined ? poll : Math.min(poll, Math.max(opts.dueInMs, MIN_WAKE_MS))
}

/** Returns when `signal` aborts; any other way out would be a bug (it never throws otherwise). */
export async function runSidecarLoop(opts: SidecarLoopOptions): Promise<void> {
  const { clock, log, signal } = opts
  let previous = opts.first
  let lastFull = clock.now()
  let failures = 0
  log(`sidecar: the set is in place; checking it again every ${formatDuration(opts.pollIntervalMs)} (+-${POLL_JITTER * 100}%), or when its next step is due`)
  for (;;) {
    const dueInMs = previous.nextAt === undefined ? undefined : previous.nextAt - clock.now()
    const delay = nextDelay({ pollIntervalMs: opts.pollIntervalMs, failures, random: clock.random(), dueInMs })
    const slept = await orStopped(clock.sleep(delay, signal).then(() => true, () => false), signal)
    if (slept !== true) break
    const full = clock.now() - lastFull >= FULL_PASS_EVERY_MS
    // A pass's own lines are kept until it ends: printed when something changed or went wrong.
    const lines: string[] = []
    const pass = ensureSecrets({
      ...opts.pass,
      log: (line) => lines.push(line),
      deadline: clock.now() + opts.passTimeoutMs,
      ...(full ? {} : { previous }),
    })
    const result = await orStopped(pass.then((ensured) => ({ ensured }), (error: unknown) => ({ error })), signal)
    opts.afterPass?.()
    if (result === STOPPED) break // the pass's guarded writes are safe to abandon at any point
    if ('error' in result) {
      if (signal?.aborted) break
      failures++
      for (const line of lines) log(line)
      const code = result.error instanceof InjectorError ? result.error.code : 'ERR_UNEXPECTED'
      const message = result.error instanceof Error ? result.error.message : String(result.error)
      const retry = nextDelay({ pollIntervalMs: opts.pollIntervalMs, failures, random: 0.5 })
      log(`sidecar: checking the set failed (${code}: ${message}); the set in place stays, trying again in about ${formatDuration(retry)}`)
      opts.onPass?.(undefined)
      continue
    }
    if (failures > 0) log(`sidecar: the Secrets can be read again after ${failures} failed check${failures > 1 ? 's' : ''}`)
    failures = 0
    if (full) lastFull = clock.now()
    const { ensured } = result
    const changed = ensured.outcome !== 'used' || ensured.steps.length > 0 || ensured.fingerprint !== previous.fingerprint
    if (changed) {
      for (const line of lines) log(line)
      const how = ensured.outcome === 'used' ? 'by another pod' : ensured.outcome
      log(`sidecar: the set changed (${how}): ${previous.fingerprint.slice(0, 16)} -> ${ensured.fingerprint.slice(0, 16)}; the kubelet refreshes the mounted files on its next sync`)
    }
    previous = ensured
    opts.onPass?.(ensured)
  }
  log('sidecar: stopped by a signal; exiting')
}

const STOPPED = Symbol('stopped')

/**
 * `work` (which must not reject), or STOPPED as soon as `signal` aborts. The listener is removed
 * when `work` settles: a Promise.race against one long-lived "aborted" promise would keep every
 * pass's result (Secret data included) reachable for the life of the pod.
 */
function orStopped<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T | typeof STOPPED> {
  if (signal === undefined) return work
  if (signal.aborted) return Promise.resolve(STOPPED)
  return new Promise((resolve) => {
    const onAbort = (): void => resolve(STOPPED)
    signal.addEventListener('abort', onAbort, { once: true })
    void work.then((value) => {
      signal.removeEventListener('abort', onAbort)
      resolve(value)
    })
  })
}
