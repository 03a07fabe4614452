// Retries an API call while the API is unavailable (connection errors, 5xx, 429), with capped,
// jittered exponential backoff, but never past the run's deadline.
import { InjectorError } from '../errors.ts'
import type { Clock } from './clock.ts'
import { formatDuration } from './duration.ts'
import { BootstrapErrorCodes } from './exit-codes.ts'
import { isStoreError } from './secret-store.ts'

export interface RetryOptions {
  readonly clock: Clock
  /** Epoch ms after which no new attempt starts. */
  readonly deadline: number
  readonly signal?: AbortSignal
  readonly log: (line: string) => void
  readonly baseDelayMs?: number
  readonly maxDelayMs?: number
}

export const DEFAULT_BASE_DELAY_MS = 250
export const DEFAULT_MAX_DELAY_MS = 5000

/** Delay before retry number `attempt` (1-based): exponential, capped, "equal jitter". */
export function backoffDelay(attempt: number, random: number, base = DEFAULT_BASE_DELAY_MS, max = DEFAULT_MAX_DELAY_MS): number {
  const ceiling = Math.min(max, base * 2 ** Math.min(attempt - 1, 30))
  return Math.round(ceiling / 2 + (random * ceiling) / 2)
}

export async function withRetry<T>(what: string, op: () => Promise<T>, opts: RetryOptions): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await op()
    } catch (err) {
      if (!isStoreError(err, 'unavailable')) throw err
      const backoff = backoffDelay(attempt, opts.clock.random(), opts.baseDelayMs, opts.maxDelayMs)
      const wait = Math.min(Math.max(backoff, err.retryAfterMs ?? 0), 2 * (opts.maxDelayMs ?? DEFAULT_MAX_DELAY_MS))
      if (opts.clock.now() + wait > opts.deadline) {
        throw new InjectorError(
          BootstrapErrorCodes.ERR_API_UNAVAILABLE,
          `the Kubernetes API stayed unavailable until the wait timeout (${what}: ${attempt} attempts; last: ${err.message})`,
          { cause: err },
        )
      }
      // The store's message already names verb, Secret and namespace.
      opts.log(`${err.message}; retrying in ${formatDuration(wait)} (attempt ${attempt + 1})`)
      await opts.clock.sleep(wait, opts.signal)
    }
  }
}
