// What every role gets from main.ts: the clock, the log, the stop signal and test knobs.
import type { CertificateSet, IssueOptions } from '../core/certs/types.ts'
import type { Clock } from './clock.ts'
import type { Log } from './log.ts'

/** Seams for tests; production passes none of them. */
export interface BootstrapDeps {
  readonly clock?: Clock
  /** Where the in-cluster token, ca.crt and namespace are read (default the kubelet's path). */
  readonly serviceAccountDir?: string
  /** File polling interval (default 500 ms). */
  readonly pollMs?: number
  /** Pause between Secret reads while another replica writes (default 1 s). */
  readonly secretPollMs?: number
  readonly progressEveryMs?: number
  /** How long a half-written set may stay unchanged before it is taken over (default 20 s). */
  readonly takeoverAfterMs?: number
  readonly requestTimeoutMs?: number
  /** Replaces issueCertificateSet. */
  readonly issue?: (opts: IssueOptions) => Promise<CertificateSet>
}

export interface BootstrapContext extends Omit<BootstrapDeps, 'clock'> {
  readonly clock: Clock
  readonly log: Log
  readonly env: Readonly<Record<string, string | undefined>>
  readonly stdout: { write(chunk: string): unknown }
  readonly signal?: AbortSignal
}
