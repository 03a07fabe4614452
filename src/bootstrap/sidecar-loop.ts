// `--sidecar`: once the set is in place, bootstrap-tls stays running as the Contour pod's native
// sidecar and ensures the set again every --poll-interval (jittered), with the very options of
// the first pass. So renewal (less than a third of the lifetime left) and rotation happen while
// the pod runs, not only at its next start. A pass that reads a valid set costs three GETs and
// logs nothing; a failing API is logged and tried again sooner, never fatal; SIGTERM ends the
// loop at once with success. Between passes only the set's fingerprint is kept: no Secret data,
// no key, no connection.
import { InjectorError } from '../errors.ts'
import type { Clock } from './clock.ts'
import { formatDuration } from './duration.ts'
import { ensureSecrets, type EnsureOptions } from './ensure-secrets.ts'

/** What a pass needs: ensureSecrets's options, built once; each pass gets its own deadline. */
export type PassOptions = Omit<EnsureOptions, 'deadline'>

export interface SidecarLoopOptions {
  readonly pass: PassOptions
  /** Fingerprint of the set in place when the loop starts. */
  readonly fingerprint: string
  readonly pollIntervalMs: number
  /** How long one pass may take (the role's --wait-timeout). */
  readonly passTimeoutMs: number
  readonly clock: Clock
  readonly log: (line: string) => void
  readonly signal?: AbortSignal
  /** After each pass, ok or not: e.g. close idle API connections until the next one. */
  readonly afterPass?: () => void
}

/** Each poll is the interval +-20%, so replicas started together spread out. */
export const POLL_JITTER = 0.2
/** First retry after a failed pass; doubled on each further failure, never past the poll interval. */
export const RETRY_AFTER_FAILURE_MS = 30_000

export function nextDelay(pollIntervalMs: number, failures: number, random: number): number {
  const base = failures === 0 ? pollIntervalMs : Math.min(pollIntervalMs, RETRY_AFTER_FAILURE_MS * 2 ** Math.min(failures - 1, 20))
  return Math.round(base * (1 - POLL_JITTER + 2 * POLL_JITTER * random))
}

/** Returns when `signal` aborts; any other way out would be a bug (it never throws otherwise). */
export async function runSidecarLoop(opts: SidecarLoopOptions): Promise<void> {
  const { clock, log, signal } = opts
  let fingerprint = opts.fingerprint
  let failures = 0
  log(`sidecar: the set is in place; checking it again every ${formatDuration(opts.pollIntervalMs)} (+-${POLL_JITTER * 100}%)`)
  for (;;) {
    const delay = nextDelay(opts.pollIntervalMs, failures, clock.random())
    const slept = await orStopped(clock.sleep(delay, signal).then(() => true, () => false), signal)
    if (slept !== true) break
    // A pass's own lines are kept until it ends: printed when something changed or went wrong.
    const lines: string[] = []
    const pass = ensureSecrets({ ...opts.pass, log: (line) => lines.push(line), deadline: clock.now() + opts.passTimeoutMs })
    const result = await orStopped(pass.then((ensured) => ({ ensured }), (error: unknown) => ({ error })), signal)
    opts.afterPass?.()
    if (result === STOPPED) break // the pass's guarded writes are safe to abandon at any point
    if ('error' in result) {
      if (signal?.aborted) break
      failures++
      for (const line of lines) log(line)
      const code = result.error instanceof InjectorError ? result.error.code : 'ERR_UNEXPECTED'
      const message = result.error instanceof Error ? result.error.message : String(result.error)
      log(`sidecar: checking the set failed (${code}: ${message}); the set in place stays, trying again in about ${formatDuration(nextDelay(opts.pollIntervalMs, failures, 0.5))}`)
      continue
    }
    if (failures > 0) log(`sidecar: the Secrets can be read again after ${failures} failed check${failures > 1 ? 's' : ''}`)
    failures = 0
    const { ensured } = result
    if (ensured.outcome === 'used' && ensured.fingerprint === fingerprint) continue
    for (const line of lines) log(line)
    const how = ensured.outcome === 'used' ? 'replaced by another pod' : ensured.outcome
    log(`sidecar: the set changed (${how}): ${fingerprint.slice(0, 16)} -> ${ensured.fingerprint.slice(0, 16)}; the kubelet refreshes the mounted files on its next sync`)
    fingerprint = ensured.fingerprint
  }
  log('sidecar: stopped by a signal; exiting')
}

const STOPPED = Symbol('stopped')

/**
 * `work` (which must not reject), or STOPPED as soon as `signal` aborts. The listener is removed when `work` settles: a
 * Promise.race against one long-lived "aborted" promise would keep every pass's result (Secret
 * data included) reachable for the life of the pod.
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
