// How many round trips ensureSecrets needs: calls that are in flight together form one wave (one
// round trip's worth of latency). The leaves are read together and written together, and a
// snapshot's leading read of the CA Secret is the previous observation of it whenever nothing
// but this process's own writes can have happened since.
import t from 'tap'
import { systemClock } from '../../src/bootstrap/clock.ts'
import { ensureSecrets } from '../../src/bootstrap/ensure-secrets.ts'
import { checkCertificateSet } from '../../src/core/certs/check-set.ts'
import { fingerprintSet } from '../../src/core/certs/fingerprint.ts'
import type { CertificateSet } from '../../src/core/certs/types.ts'
import { freshSet } from './cert-fixtures.ts'
import { MemorySecrets } from './memory-store.ts'
import { DEFAULT_NAMES } from './secret-admin.ts'

/** A gate that lets calls land in waves: every call made before the next macrotask joins the current wave. */
function waves(): { gate: (what: string) => Promise<void>; recorded: string[][] } {
  const recorded: string[][] = []
  let current: string[] | undefined
  let release: Promise<void> = Promise.resolve()
  return {
    recorded,
    gate: async (what) => {
      if (current === undefined) {
        const wave: string[] = []
        current = wave
        release = new Promise((resolve) =>
          setImmediate(() => {
            recorded.push(wave.sort())
            current = undefined
            resolve()
          }),
        )
      }
      current.push(what.replace(/^r /, ''))
      await release
    },
  }
}

async function ensure(mem: MemorySecrets, issued: CertificateSet): Promise<{ outcome: string; waves: string[][]; prepared: string[] }> {
  const w = waves()
  const prepared: string[] = []
  const result = await ensureSecrets({
    // When the issuer is prepared: after which wave (the leaves' reads are then still to come).
    prepareIssue: () => prepared.push(`after wave ${w.recorded.length}`),
    store: mem.view('r', w.gate),
    names: DEFAULT_NAMES,
    rotateToken: '',
    issue: async () => issued,
    check: (set) => checkCertificateSet(set),
    fingerprint: fingerprintSet,
    clock: systemClock,
    deadline: Date.now() + 30_000,
    log: () => undefined,
  })
  return { outcome: result.outcome, waves: w.recorded, prepared }
}

const { ca, contour, envoy } = DEFAULT_NAMES
const snapshot = [[`get ${contour}`, `get ${envoy}`], [`get ${ca}`]]

t.test('empty namespace: 12 round trips (was 16: a leading CA read per snapshot, leaves written one by one)', async (t) => {
  const mem = new MemorySecrets()
  const r = await ensure(mem, await freshSet('round-trips'))
  t.equal(r.outcome, 'created')
  t.same(r.waves, [
    [`get ${ca}`], ...snapshot, // first snapshot: nothing known yet
    [`create ${ca}`], // claim
    ...snapshot, // the claim's answer is the leading read
    [`create ${contour}`, `create ${envoy}`], // both leaves at once
    ...snapshot, // the previous trailing read is the leading read
    [`replace ${ca}`], // finalize
    ...snapshot, // the finalize answer is the leading read
  ])
  t.same(r.prepared, ['after wave 1'], 'the issuer is prepared once, as soon as the CA Secret is known to be absent')
})

t.test('a valid set: 3 round trips, nothing written', async (t) => {
  const mem = new MemorySecrets()
  t.equal((await ensure(mem, await freshSet('round-trips', 1))).outcome, 'created')
  const r = await ensure(mem, await freshSet('round-trips', 2))
  t.equal(r.outcome, 'used')
  t.same(r.waves, [[`get ${ca}`], ...snapshot])
  t.same(r.prepared, [], 'no issuer prepared for a set that exists')
})

t.test('a leaf write that loses its race: the other leaf is still written, then everything is read afresh', async (t) => {
  const mem = new MemorySecrets()
  const set = await freshSet('round-trips', 3)
  const w = waves()
  let raced = false
  const view = mem.view('r', async (what) => {
    // Another writer creates the Envoy Secret just before our create of it lands.
    if (what === `r create ${envoy}` && !raced) {
      raced = true
      mem.put({ name: envoy, type: 'kubernetes.io/tls', data: { 'tls.crt': Buffer.from('x'), 'tls.key': Buffer.from('y') }, labels: {}, annotations: {} })
    }
    await w.gate(what)
  })
  const logs: string[] = []
  const result = ensureSecrets({
    store: view,
    names: DEFAULT_NAMES,
    rotateToken: '',
    issue: async () => set,
    check: (s) => checkCertificateSet(s),
    fingerprint: fingerprintSet,
    clock: systemClock,
    deadline: Date.now() + 5_000,
    log: (l) => logs.push(l),
  })
  await t.rejects(result, { code: 'ERR_FOREIGN_SECRET', message: /Secret envoy-tls was not created by contour-tls-injector .* appeared while a new set was being written/ })
  t.ok(logs.includes(`create Secret ${contour}: done`), 'the Contour Secret was written alongside')
  t.ok(logs.includes(`create Secret ${envoy}: already exists; reading it again`))
  const afterRace = w.recorded.findIndex((wave) => wave.includes(`create ${envoy}`))
  t.same(w.recorded[afterRace + 1], [`get ${ca}`], 'after a lost race the CA Secret is read afresh first')
})
