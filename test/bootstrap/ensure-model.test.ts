// Model test of the write protocol: 2 to 6 replicas run ensureSecrets against one in-memory store
// from awkward starting states, with every store call, sleep and issue interleaved by
// fast-check's scheduler, some calls failing as "unavailable" and one replica possibly crashing
// at any point. Whatever happens, every surviving replica must end on the same set, and that set
// must be what the Secrets hold at the end: complete, coherent, and never overwritten after use.
import { X509Certificate } from 'node:crypto'
import fc from 'fast-check'
import t from 'tap'
import type { Clock } from '../../src/bootstrap/clock.ts'
import { ensureSecrets, type EnsuredSecrets } from '../../src/bootstrap/ensure-secrets.ts'
import { buildSecretWrite, nextTokens, SecretAnnotations, stateFromSecrets, type SecretRole, type SetState } from '../../src/bootstrap/secret-model.ts'
import { currentSet, stagedSet } from '../../src/core/rotation/trust-state.ts'
import { SecretStoreError } from '../../src/bootstrap/secret-store.ts'
import { checkCertificateSet } from '../../src/core/certs/check-set.ts'
import { fingerprintSet } from '../../src/core/certs/fingerprint.ts'
import { issueCertificateSet } from '../../src/core/certs/issue-set.ts'
import type { CertificateSet } from '../../src/core/certs/types.ts'
import { DEFAULT_NAMES } from './secret-admin.ts'
import { MemorySecrets } from './memory-store.ts'

const DAY = 86_400_000
const POOL_SIZE = 64
const pool = await Promise.all(Array.from({ length: POOL_SIZE }, () => issueCertificateSet({ namespace: 'model' })))
const [dueA, expiredA] = await Promise.all([
  issueCertificateSet({ namespace: 'model', now: new Date(Date.now() - 300 * DAY) }),
  issueCertificateSet({ namespace: 'model', now: new Date(Date.now() - 400 * DAY) }),
])
const [setA, setB, setC] = [pool[0], pool[1], pool[2]] as [CertificateSet, CertificateSet, CertificateSet]

interface Seed {
  readonly role: SecretRole
  readonly set: CertificateSet
  readonly caState?: SetState
  readonly ageMs?: number
}

const START_STATES: Record<string, readonly Seed[]> = {
  empty: [],
  complete: ['ca', 'contour', 'envoy'].map((role) => ({ role: role as SecretRole, set: setA })),
  renewalDue: ['ca', 'contour', 'envoy'].map((role) => ({ role: role as SecretRole, set: dueA })),
  expired: ['ca', 'contour', 'envoy'].map((role) => ({ role: role as SecretRole, set: expiredA })),
  contourMissing: [{ role: 'ca', set: setA }, { role: 'envoy', set: setA }],
  onlyLeaves: [{ role: 'contour', set: setA }, { role: 'envoy', set: setB }],
  threeSets: [{ role: 'ca', set: setA }, { role: 'contour', set: setB }, { role: 'envoy', set: setC }],
  claimedLongAgo: [{ role: 'ca', set: setB, caState: 'writing', ageMs: 3_600_000 }, { role: 'contour', set: setA }, { role: 'envoy', set: setA }],
  claimedJustNow: [{ role: 'ca', set: setB, caState: 'writing', ageMs: 0 }, { role: 'contour', set: setB }, { role: 'envoy', set: setA }],
  writtenNotFinalized: [{ role: 'ca', set: setB, caState: 'writing', ageMs: 0 }, { role: 'contour', set: setB }, { role: 'envoy', set: setB }],
}

t.test('every surviving replica ends on the one set the Secrets hold', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.scheduler(),
      fc.constantFrom(...Object.keys(START_STATES)),
      fc.integer({ min: 2, max: 6 }),
      fc.constantFrom('', 'token-1'),
      fc.option(fc.record({ replica: fc.nat(5), afterOps: fc.nat(14) }), { nil: undefined }),
      fc.boolean(),
      async (s, start, replicas, rotateToken, crash, flaky) => {
        const mem = new MemorySecrets()
        let now = Date.now()
        let issued = 3 // pool[0..2] are the seeds' sets
        for (const seed of START_STATES[start] ?? []) {
          const record = { fingerprint: fingerprintSet(seed.set), notAfter: new X509Certificate(seed.set.caCert).validToDate, writtenAt: new Date(now - (seed.ageMs ?? 60_000)), ...nextTokens({}, '') }
          mem.put(buildSecretWrite(seed.role, DEFAULT_NAMES[seed.role], seed.set, record, undefined, seed.caState))
        }
        const clock: Clock = {
          now: () => now,
          // Sleeps overlap as in real time: waking moves the clock to this sleeper's wake-up time.
          sleep: async (ms) => {
            const wake = now + ms
            await s.schedule(Promise.resolve(), 'sleep')
            now = Math.max(now, wake)
          },
          random: () => 0.5,
        }
        const runs: Array<Promise<EnsuredSecrets>> = []
        for (let i = 0; i < replicas; i++) {
          let ops = 0
          const crashed = crash !== undefined && crash.replica % replicas === i
          const gate = async (what: string): Promise<void> => {
            ops++
            if (crashed && ops > (crash?.afterOps ?? 0)) await new Promise(() => undefined) // never lands
            await s.schedule(Promise.resolve(), what)
            if (flaky && ops % 5 === 0) throw new SecretStoreError('unavailable', `${what}: 503`, { status: 503 })
          }
          const run = ensureSecrets({
            store: mem.view(`r${i}`, gate),
            names: DEFAULT_NAMES,
            rotateToken,
            issue: async () => {
              await s.schedule(Promise.resolve(), `r${i} issue`)
              const set = pool[issued++]
              if (set === undefined) throw new Error('certificate pool exhausted')
              return set
            },
            check: (set) => checkCertificateSet(set),
            fingerprint: fingerprintSet,
            clock,
            deadline: now + 30 * 60_000,
            log: () => undefined,
            takeoverAfterMs: 2000,
            pollMs: 100,
          })
          if (!crashed) runs.push(run)
          else run.catch(() => undefined)
        }
        const results = await s.waitFor(Promise.all(runs))
        const loaded = stateFromSecrets({ ca: mem.secrets.get(DEFAULT_NAMES.ca), contour: mem.secrets.get(DEFAULT_NAMES.contour), envoy: mem.secrets.get(DEFAULT_NAMES.envoy) })
        if (!('state' in loaded)) throw new Error(`the Secrets are incomplete: ${loaded.missing}`)
        const final = checkCertificateSet(currentSet(loaded.state))
        const staged = stagedSet(loaded.state)
        // Renewal runs in phases: the current leaves may stay inside their window while the next ones wait.
        if (!final.ok && !(final.reason === 'renewal-due' && staged !== undefined)) throw new Error(`the final set is not valid: ${final.reason}`)
        if (staged !== undefined && !checkCertificateSet(staged).ok) throw new Error('the staged leaves are not valid against the next CA')
        const finalFingerprint = fingerprintSet(currentSet(loaded.state))
        if (mem.secrets.get(DEFAULT_NAMES.ca)?.annotations[SecretAnnotations.setState] !== 'complete') throw new Error('the CA Secret is not marked complete')
        for (const r of results) {
          if (r.fingerprint !== finalFingerprint) throw new Error(`a replica ended on ${r.fingerprint.slice(0, 8)}, the Secrets hold ${finalFingerprint.slice(0, 8)}`)
        }
        const startedComplete = start === 'complete' && rotateToken === ''
        if (startedComplete && mem.writes.length > 0) throw new Error('a valid set was written over')
      },
    ),
    { numRuns: Number(process.env.MODEL_RUNS ?? 150), ...(process.env.MODEL_SEED ? { seed: Number(process.env.MODEL_SEED), path: process.env.MODEL_PATH } : {}), interruptAfterTimeLimit: 60_000 * Math.max(1, Number(process.env.MODEL_RUNS ?? 150) / 150) },
  )
  t.pass('property held')
})
