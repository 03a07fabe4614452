// `--serving-cert-mode=self` at run time: ensure the certificate before the server starts,
// then keep it in sync on an unref'd timer and hand a new pair to `onReload` when to switch.
//
// Renewal with no CA key anywhere (the CA key dies once the serving certificate is signed):
// 1. Some replica finds the certificate inside its renewal window (a third of the lifetime
//    left) and writes a new CA and certificate, guarded by the Secret's resourceVersion; the
//    Secret records the replaced CA as `ca-previous.crt`. Racing replicas get 409 and adopt.
// 2. Every replica publishes the bundle [new CA, previous CA] as the caBundle (sync-serving-cert.ts).
// 3. A replica switches to the new certificate only once the stored caBundle of every webhook
//    has trusted the new CA for `settleMs` (the apiservers' informers have caught up). Until then
//    it keeps serving the old certificate, which the previous CA in the bundle still vouches for.
// 4. The previous CA stays in the bundle until it expires or the next renewal replaces it.
import { createSecureContext } from 'node:tls'
import { X509Certificate } from 'node:crypto'
import { systemClock, type Clock } from '../bootstrap/clock.ts'
import type { SecretStore } from '../bootstrap/secret-store.ts'
import { InjectorError } from '../errors.ts'
import { bundleTrusts } from './ca-bundle.ts'
import { checkServingCert } from './check-serving-cert.ts'
import { issueServingCert, type IssuedServingCert, type ServingIssueOptions } from './issue-serving-cert.ts'
import { syncServingCert, type SyncResult } from './sync-serving-cert.ts'
import { ServingCertErrorCodes, type ServingIdentity, type ServingMaterial } from './types.ts'
import type { WebhookConfigurationStore } from './webhook-configuration-store.ts'

export interface ServingPair {
  readonly cert: Buffer
  readonly key: Buffer
}

export interface ServingLog {
  info(line: string): void
  warn(line: string): void
}

export interface ServingCertOptions {
  readonly secrets: SecretStore
  readonly webhooks: WebhookConfigurationStore
  readonly secretName: string
  readonly identity: ServingIdentity
  readonly lifetimeMs: number
  readonly keyBits?: number
  readonly log: ServingLog
  /** Called with the pair to serve from now on (after start). */
  readonly onReload: (pair: ServingPair) => void
  readonly onError?: (err: Error) => void
  readonly clock?: Clock
  /** How long start() may take before the webhook gives up (default 120 s). */
  readonly startTimeoutMs?: number
  /** Regular re-check of the Secret and the caBundle (default 60 s). */
  readonly syncIntervalMs?: number
  /** How long the caBundle must have trusted a new CA before replicas switch (default 10 s). */
  readonly settleMs?: number
  /** First retry delay after a failed round, doubled up to syncIntervalMs (default 5 s). */
  readonly retryMs?: number
  readonly issue?: (opts: ServingIssueOptions) => Promise<IssuedServingCert>
}

export interface ServingCertHandle {
  /** The pair to start the server with: its CA is in the caBundle. */
  readonly pair: ServingPair
  /** The material served now. */
  current(): ServingMaterial
  close(): void
}

export async function startServingCert(opts: ServingCertOptions, signal?: AbortSignal): Promise<ServingCertHandle> {
  const clock = opts.clock ?? systemClock
  const syncIntervalMs = opts.syncIntervalMs ?? 60_000
  const settleMs = opts.settleMs ?? 10_000
  const retryMs = opts.retryMs ?? 5000
  const issue = opts.issue ?? issueServingCert
  const check = (m: ServingMaterial) => checkServingCert(m, { identity: opts.identity, now: new Date(clock.now()) })
  const stop = new AbortController()
  const stopped = signal === undefined ? stop.signal : AbortSignal.any([stop.signal, signal])

  const round = (servingCaCert: string, deadline: number): Promise<SyncResult> =>
    syncServingCert({
      store: opts.secrets,
      webhooks: opts.webhooks,
      name: opts.secretName,
      issue: () => issue({ identity: opts.identity, lifetimeMs: opts.lifetimeMs, keyBits: opts.keyBits, now: new Date(clock.now()) }),
      check,
      servingCaCert,
      clock,
      deadline,
      log: (line) => opts.log.info(line),
      signal: stopped,
    })

  const first = await round('', clock.now() + (opts.startTimeoutMs ?? 120_000)).catch((err: unknown) => {
    const e = err as InjectorError
    throw new InjectorError(e.code?.startsWith('ERR_') ? e.code : ServingCertErrorCodes.ERR_SERVING_CERT, `cannot ensure the serving certificate: ${e.message}`, { cause: err })
  })
  let current = first.material
  const pair = toPair(current)
  opts.log.info(`serving certificate from Secret ${opts.secretName} (${first.outcome}), not after ${notAfter(current.cert)}`)

  let timer: NodeJS.Timeout | undefined
  let failures = 0
  let pending: { cert: string; since: number } | undefined
  const schedule = (ms: number): void => {
    if (stopped.aborted) return
    timer = setTimeout(() => void tick(), Math.max(10, ms))
    timer.unref()
  }
  const tick = async (): Promise<void> => {
    let next = syncIntervalMs
    try {
      const result = await round(current.caCert, clock.now() + Math.max(syncIntervalMs, 30_000))
      if (stopped.aborted) return
      failures = 0
      next = Math.min(next, untilRenewal(result.material))
      if (result.material.cert !== current.cert) {
        const trusted = result.view.webhooks.every((w) => bundleTrusts(w.caBundle, result.material.caCert))
        if (!trusted) {
          pending = undefined
          next = Math.min(next, retryMs)
          opts.log.info('a new serving certificate is in the Secret; waiting for the caBundle to trust its CA before serving it')
        } else {
          if (pending?.cert !== result.material.cert) pending = { cert: result.material.cert, since: clock.now() }
          const remaining = settleMs - (clock.now() - pending.since)
          if (remaining > 0) next = Math.min(next, remaining)
          else {
            const nextPair = toPair(result.material)
            current = result.material
            pending = undefined
            opts.onReload(nextPair)
            opts.log.info(`now serving the renewed certificate (not after ${notAfter(current.cert)})`)
          }
        }
      }
    } catch (err) {
      if (stopped.aborted) return
      failures++
      next = Math.min(syncIntervalMs, retryMs * 2 ** Math.min(failures - 1, 10))
      opts.log.warn(`serving certificate sync failed (${(err as InjectorError).code ?? 'ERR_UNEXPECTED'}): ${(err as Error).message}; retrying in ${Math.round(next / 1000)}s`)
      opts.onError?.(err as Error)
    }
    // A little jitter, so replicas that started together do not renew in lockstep.
    schedule(next + clock.random() * Math.min(2000, next / 10))
  }
  const untilRenewal = (material: ServingMaterial): number => {
    const result = check(material)
    // Not ok here means a foreign Secret we may only use as it is: look again at the usual pace.
    return result.ok ? Math.max(0, result.renewAt.getTime() - clock.now()) : syncIntervalMs
  }
  schedule(Math.min(syncIntervalMs, untilRenewal(current)))

  return {
    pair,
    current: () => current,
    close() {
      stop.abort()
      if (timer !== undefined) clearTimeout(timer)
    },
  }
}

function toPair(material: ServingMaterial): ServingPair {
  const pair = { cert: Buffer.from(material.cert), key: Buffer.from(material.key) }
  createSecureContext(pair) // throws on unparsable or mismatched material, before anyone serves it
  return pair
}

function notAfter(pem: string): string {
  return new X509Certificate(pem).validToDate.toISOString()
}
