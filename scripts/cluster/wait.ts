// Every wait has a deadline, reports progress while it lasts and fails with the last reason.
export type Log = (line: string) => void

export interface WaitOptions {
  readonly timeoutMs: number
  readonly intervalMs?: number
  /** How often to print "still waiting" (default 5 s). */
  readonly progressMs?: number
  readonly log: Log
  /** Appended to the timeout error, e.g. "see .local-cluster/logs/etcd.log". */
  readonly hint?: string
}

export class WaitTimeoutError extends Error {
  readonly code = 'ERR_WAIT_TIMEOUT'
  constructor(message: string) {
    super(message)
    this.name = 'WaitTimeoutError'
  }
}

/**
 * Polls `check` until it returns a value other than undefined. A thrown error counts as "not
 * yet" and becomes the reason shown in progress lines and in the timeout error.
 */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, opts: WaitOptions): Promise<T> {
  const started = Date.now()
  const interval = opts.intervalMs ?? 200
  const progressEvery = opts.progressMs ?? 5000
  let nextReport = started + progressEvery
  let reason = 'not ready yet'
  for (;;) {
    try {
      const value = await check()
      if (value !== undefined) return value
    } catch (err) {
      reason = (err as Error).message
    }
    const now = Date.now()
    const elapsed = Math.round((now - started) / 1000)
    if (now - started >= opts.timeoutMs) {
      throw new WaitTimeoutError(`timed out after ${elapsed}s waiting for ${what}: ${reason}${opts.hint === undefined ? '' : ` (${opts.hint})`}`)
    }
    if (now >= nextReport) {
      opts.log(`  still waiting for ${what} (${elapsed}s of ${Math.round(opts.timeoutMs / 1000)}s): ${reason}`)
      nextReport = now + progressEvery
    }
    await new Promise((r) => setTimeout(r, interval))
  }
}

/** A check that fails with `reason` instead of returning undefined silently. */
export function notYet(reason: string): never {
  throw new Error(reason)
}
