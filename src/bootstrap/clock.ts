// Time, sleeping and randomness, passed in so tests can run waits and backoff fast.
import { setTimeout as delay } from 'node:timers/promises'
import { InjectorError } from '../errors.ts'
import { BootstrapErrorCodes } from './exit-codes.ts'

export interface Clock {
  now(): number
  /** Rejects with ERR_INTERRUPTED when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>
  /** In [0, 1), for jitter. */
  random(): number
}

export const systemClock: Clock = {
  now: () => Date.now(),
  async sleep(ms, signal) {
    try {
      await delay(Math.max(0, ms), undefined, { signal })
    } catch (err) {
      if (signal?.aborted) throw new InjectorError(BootstrapErrorCodes.ERR_INTERRUPTED, 'stopped by a signal while waiting', { cause: err })
      throw err
    }
  },
  random: () => Math.random(),
}

export function throwIfStopped(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new InjectorError(BootstrapErrorCodes.ERR_INTERRUPTED, 'stopped by a signal')
}
