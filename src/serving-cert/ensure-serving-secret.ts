// The I/O loop around plan-serving-secret.ts: read the Secret, decide, write, and on a 409 (or
// a 404 on replace) read again and adopt whatever won. Never logs Secret data.
import { X509Certificate } from 'node:crypto'
import type { Clock } from '../bootstrap/clock.ts'
import { withRetry } from '../bootstrap/retry.ts'
import type { StoredSecret } from '../bootstrap/secret-model.ts'
import { isStoreError, type SecretStore } from '../bootstrap/secret-store.ts'
import { InjectorError } from '../errors.ts'
import type { IssuedServingCert } from './issue-serving-cert.ts'
import { planServingSecret, type ServingWriteReason } from './plan-serving-secret.ts'
import { buildServingSecretWrite } from './serving-secret.ts'
import { ServingCertErrorCodes, type ServingCheckResult, type ServingMaterial } from './types.ts'

export interface EnsureServingOptions {
  readonly store: SecretStore
  readonly name: string
  readonly issue: () => Promise<IssuedServingCert>
  readonly check: (material: ServingMaterial) => ServingCheckResult
  /** The CA of the certificate served now ('' before the first one). */
  readonly servingCaCert: string
  readonly clock: Clock
  /** Epoch ms: no API retry starts after it. */
  readonly deadline: number
  readonly log: (line: string) => void
  readonly signal?: AbortSignal
}

export type ServingOutcome = 'used' | 'created' | 'renewed' | 'adopted'

export interface EnsuredServingSecret {
  readonly material: ServingMaterial
  readonly secret: StoredSecret
  readonly outcome: ServingOutcome
}

const MAX_ROUNDS = 20

export async function ensureServingSecret(opts: EnsureServingOptions): Promise<EnsuredServingSecret> {
  const { clock, log, name, store } = opts
  const call = <T>(what: string, op: () => Promise<T>): Promise<T> => withRetry(what, op, { clock, deadline: opts.deadline, signal: opts.signal, log })
  let lostRace = false
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const read = await call(`get Secret ${name}`, () => store.get(name))
    const plan = planServingSecret({ read, check: opts.check, servingCaCert: opts.servingCaCert })
    if (plan.kind === 'refuse') throw new InjectorError(ServingCertErrorCodes.ERR_FOREIGN_SECRET, plan.detail)
    if (plan.kind === 'use') {
      for (const w of plan.warnings) log(`warning: ${w}`)
      return { material: plan.material, secret: plan.secret, outcome: lostRace ? 'adopted' : 'used' }
    }
    log(`writing a new serving certificate and CA to Secret ${name}: ${reasonText(plan.reason)}${plan.detail ? ` (${plan.detail})` : ''}`)
    const issued = await opts.issue()
    const material: ServingMaterial = { ...issued, previousCaCerts: plan.previousCaCerts }
    const checked = opts.check(material)
    if (!checked.ok) throw new InjectorError(ServingCertErrorCodes.ERR_SERVING_CERT, `the newly issued serving certificate fails its own check: ${checked.reason}: ${checked.detail}`)
    const write = buildServingSecretWrite(name, material, { fingerprint: checked.fingerprint, notAfter: checked.notAfter, writtenAt: new Date(clock.now()) }, plan.anchor)
    const anchor = plan.anchor
    const what = `${anchor ? 'replace' : 'create'} Secret ${name}`
    try {
      const secret = await call(what, () => (anchor ? store.replace(write, anchor.resourceVersion) : store.create(write)))
      log(`${what}: done (serving certificate not after ${new X509Certificate(material.cert).validToDate.toISOString()})`)
      return { material, secret, outcome: plan.reason === 'missing' ? 'created' : 'renewed' }
    } catch (err) {
      if (!isStoreError(err, 'already-exists', 'conflict', 'not-found')) throw err
      log(`${what}: ${err.kind === 'already-exists' ? 'already exists' : err.kind === 'conflict' ? 'changed meanwhile' : 'gone meanwhile'}; reading it again`)
      lostRace = true
      // A short jittered pause keeps racing replicas from re-reading in lockstep.
      await clock.sleep(50 + clock.random() * 150, opts.signal)
    }
  }
  throw new InjectorError(ServingCertErrorCodes.ERR_SERVING_CERT, `Secret ${name} kept changing under us (${MAX_ROUNDS} rounds); is something else writing it?`)
}

function reasonText(reason: ServingWriteReason): string {
  return { missing: 'the Secret does not exist', invalid: 'the Secret holds no valid certificate', renewal: 'the certificate is due for renewal' }[reason]
}
