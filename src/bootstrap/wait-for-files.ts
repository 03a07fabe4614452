// Polls until the mounted files are ready, printing progress, and fails with ERR_WAIT_TIMEOUT.
// Imports node:fs and the check module only (through mounted-pair.ts): the Envoy role runs this at every pod start.
import { join } from 'node:path'
import { InjectorError } from '../errors.ts'
import type { Clock } from './clock.ts'
import type { BootstrapContext } from './context.ts'
import { formatDuration } from './duration.ts'
import { BootstrapErrorCodes } from './exit-codes.ts'
import { checkMountedPair } from './mounted-pair.ts'
import { readMount } from './read-mount.ts'

export type ProbeResult = { readonly ready: true; readonly note?: string } | { readonly ready: false; readonly detail: string }
export type Probe = () => Promise<ProbeResult>

export interface WaitOptions {
  readonly clock: Clock
  /** Epoch ms. */
  readonly deadline: number
  /** For messages: the --wait-timeout the deadline came from. */
  readonly timeoutMs: number
  readonly log: (line: string) => void
  readonly signal?: AbortSignal
  readonly pollMs?: number
  readonly progressEveryMs?: number
}

/** The wait settings of a role: its clock, log, stop signal and test knobs, with its deadline. */
export function waitOptionsFor(ctx: BootstrapContext, deadline: number, timeoutMs: number): WaitOptions {
  return { clock: ctx.clock, deadline, timeoutMs, log: ctx.log, signal: ctx.signal, pollMs: ctx.pollMs, progressEveryMs: ctx.progressEveryMs }
}

export async function waitForFiles(what: string, probe: Probe, opts: WaitOptions): Promise<void> {
  const { clock, log } = opts
  const pollMs = opts.pollMs ?? 500
  const progressEveryMs = opts.progressEveryMs ?? 5000
  const start = clock.now()
  let lastLog = -Infinity
  for (;;) {
    const result = await probe()
    const now = clock.now()
    if (result.ready) {
      if (result.note) log(`warning: ${result.note}`)
      log(`${what}: ready after ${formatDuration(now - start)}`)
      return
    }
    if (now >= opts.deadline) {
      throw new InjectorError(
        BootstrapErrorCodes.ERR_WAIT_TIMEOUT,
        `timed out after ${formatDuration(opts.timeoutMs)} waiting for ${what}: ${result.detail}. The kubelet fills an optional Secret volume on a later sync; it will restart this container`,
      )
    }
    if (now - lastLog >= progressEveryMs) {
      log(`waiting for ${what}: ${result.detail} (${formatDuration(now - start)} of ${formatDuration(opts.timeoutMs)})`)
      lastLog = now
    }
    await clock.sleep(Math.min(pollMs, opts.deadline - now), opts.signal)
  }
}

/** Contour role: each mount must hold exactly the data of its Secret (every key, byte for byte). */
export function exactMaterialProbe(mounts: ReadonlyArray<{ readonly dir: string; readonly secretName: string; readonly data: Readonly<Record<string, Buffer>> }>): Probe {
  return async () => {
    for (const mount of mounts) {
      const names = Object.keys(mount.data).sort()
      const snapshot = await readMount(mount.dir, names)
      if (!snapshot.ok) return { ready: false, detail: snapshot.detail }
      for (const name of names) {
        if (!snapshot.files[name]?.equals(mount.data[name] ?? Buffer.alloc(0))) {
          return { ready: false, detail: `${join(mount.dir, name)} does not hold the content of Secret ${mount.secretName} yet` }
        }
      }
    }
    return { ready: true }
  }
}

/** Envoy role: <tls-dir>/envoy holds a client certificate and key that <tls-dir>/ca/ca.crt verifies. */
export function envoyPairProbe(tlsDir: string, now: () => Date): Probe {
  return () => checkMountedPair(tlsDir, 'envoy', { now: now() })
}
