// The sidecar's loop against the in-memory Secrets, on a fake clock that jumps to each wake-up:
// months of polling run in a moment. It carries out the phased renewal of a set that becomes due
// while it runs (waking for each step), picks up a rotate request put on the CA Secret, adopts a
// rotation another pod made and never rotates back, outlives a failing API, ends at once on
// SIGTERM (also in the middle of a pass), and costs one GET a poll in steady state. A pass that
// changes nothing logs nothing.
import { X509Certificate } from 'node:crypto'
import { getEventListeners } from 'node:events'
import t from 'tap'
import type { Clock } from '../../src/bootstrap/clock.ts'
import { ensureSecrets } from '../../src/bootstrap/ensure-secrets.ts'
import { buildSecretWrite, nextTokens, RequestAnnotations, SecretAnnotations, type SecretRole } from '../../src/bootstrap/secret-model.ts'
import { SecretStoreError, type SecretStore } from '../../src/bootstrap/secret-store.ts'
import { formatDuration } from '../../src/bootstrap/duration.ts'
import { MIN_WAKE_MS, nextDelay, runSidecarLoop, type PassOptions, type SidecarLoopOptions } from '../../src/bootstrap/sidecar-loop.ts'
import { checkCertificateSet } from '../../src/core/certs/check-set.ts'
import { splitCertificates } from '../../src/core/certs/pem-bundle.ts'
import { fingerprintSet } from '../../src/core/certs/fingerprint.ts'
import { issueCertificateSet } from '../../src/core/certs/issue-set.ts'
import type { CertificateSet } from '../../src/core/certs/types.ts'
import { MemorySecrets } from './memory-store.ts'
import { DEFAULT_NAMES } from './secret-admin.ts'

const DAY = 86_400_000
const POLL = DAY // a day between passes: a year is 365 passes

interface Harness {
  readonly clock: Clock
  readonly sleeps: number[]
  now(): number
}

/**
 * Every sleep jumps the clock to its end, after a macrotask so other work interleaves; `onSleep`
 * sees each one first, and the sleeper waits for it (the test's hook to change the world or stop
 * the loop while time stands still).
 */
function fakeClock(start: number, onSleep: (ms: number) => void | Promise<void> = () => undefined): Harness {
  let now = start
  const sleeps: number[] = []
  const clock: Clock = {
    now: () => now,
    random: () => 0.5,
    sleep: async (ms, signal) => {
      sleeps.push(ms)
      await onSleep(ms)
      await new Promise((resolve) => setImmediate(resolve))
      if (signal?.aborted) throw Object.assign(new Error('stopped'), { code: 'ERR_INTERRUPTED' })
      now += ms
    },
  }
  return { clock, sleeps, now: () => now }
}

function seed(mem: MemorySecrets, set: CertificateSet, at: number, rotateToken = ''): void {
  const record = { fingerprint: fingerprintSet(set), notAfter: new X509Certificate(set.caCert).validToDate, writtenAt: new Date(at), ...nextTokens({}, rotateToken) }
  for (const role of ['ca', 'contour', 'envoy'] as SecretRole[]) mem.put(buildSecretWrite(role, DEFAULT_NAMES[role], set, record))
}

function caFingerprint(mem: MemorySecrets): string | undefined {
  return mem.secrets.get(DEFAULT_NAMES.ca)?.annotations[SecretAnnotations.fingerprint]
}

function passOptions(store: SecretStore, clock: Clock, opts: { rotateToken?: string; issued?: CertificateSet[] } = {}): PassOptions {
  return {
    store,
    names: DEFAULT_NAMES,
    rotateToken: opts.rotateToken ?? '',
    issue: async () => {
      const set = await issueCertificateSet({ namespace: 'sidecar', now: new Date(clock.now()) })
      opts.issued?.push(set)
      return set
    },
    check: (set) => checkCertificateSet(set, { now: new Date(clock.now()) }),
    fingerprint: fingerprintSet,
    clock,
    log: () => t.fail('a pass must log through the loop'),
  }
}

/** The first pass, as run-contour makes it, then the loop with its result. */
async function loop(h: Harness, pass: PassOptions, signal: AbortSignal, log: string[], pollIntervalMs = POLL): Promise<void> {
  const first = await ensureSecrets({ ...pass, log: () => undefined, deadline: h.now() + 300_000 })
  const options: SidecarLoopOptions = { pass, first, pollIntervalMs, passTimeoutMs: 300_000, clock: h.clock, log: (line) => log.push(line), signal }
  return runSidecarLoop(options)
}

const start = Date.now()
const initial = await issueCertificateSet({ namespace: 'sidecar', now: new Date(start) })

t.test('poll delays: the interval +-20%, the next step when sooner, backing off after failures', async (t) => {
  const poll = { pollIntervalMs: 600_000, failures: 0 }
  t.equal(nextDelay({ ...poll, random: 0 }), 480_000)
  t.equal(nextDelay({ ...poll, random: 0.999_999 }), 720_000)
  t.equal(nextDelay({ ...poll, random: 0.5 }), 600_000)
  t.equal(nextDelay({ ...poll, random: 0.5, dueInMs: 90_000 }), 90_000, 'a step due in 90 s: woken for it')
  t.equal(nextDelay({ ...poll, random: 0.5, dueInMs: -5000 }), 1000, 'an overdue step: soon, but not in a busy loop')
  t.equal(nextDelay({ ...poll, random: 0.5, dueInMs: 86_400_000 }), 600_000, 'a step due tomorrow: the poll comes first')
  t.same([1, 2, 3, 4, 5, 6].map((failures) => nextDelay({ pollIntervalMs: 600_000, failures, random: 0.5, dueInMs: 1000 })), [30_000, 60_000, 120_000, 240_000, 480_000, 600_000], 'failing: backoff, whatever is due')
})

t.test('renews in phases when the set becomes due while the pod runs, waking for each step, logging only then', async (t) => {
  const mem = new MemorySecrets()
  seed(mem, initial, start)
  const stop = new AbortController()
  const h = fakeClock(start, (ms) => {
    if (ms >= 20_000 && h.now() - start > 400 * DAY) stop.abort('SIGTERM') // past the old set's expiry
  })
  const log: string[] = []
  let gets = 0
  const store = mem.view('sidecar', async (what) => void (what.includes(' get ') && gets++))
  await loop(h, passOptions(store, h.clock), stop.signal, log)
  const changes = log.filter((l) => l.startsWith('sidecar: the set changed'))
  t.same(changes.map((l) => /\(([^)]+)\)/.exec(l)?.[1]), ['staged', 'switched', 'dropped'], 'one round: next CA trusted, leaves switched, old CA dropped', { log })
  const polls = h.sleeps.filter((ms) => ms >= MIN_WAKE_MS)
  const short = polls.filter((ms) => ms < POLL * 0.8)
  t.ok(short.some((ms) => ms <= 5 * 60_000 + 1000), `woken for each step when due (${short.map((ms) => formatDuration(ms)).join(', ')}), the switch a propagation delay after the trust, instead of a day later`)
  const current = mem.secrets.get(DEFAULT_NAMES.ca)
  t.not(caFingerprint(mem), fingerprintSet(initial), 'the Secrets hold a new set')
  t.equal(current?.annotations[SecretAnnotations.phase], 'stable', 'and the round is over')
  t.match(log[0], /^sidecar: the set is in place; checking it again every \S+ \(\+-20%\), or when its next step is due$/, 'one line at the start')
  t.ok(log.some((l) => /due for renewal/.test(l)), 'the pass\'s own lines are printed when it changed something')
  t.notOk(log.some((l) => /^using the existing set/.test(l)), 'passes that found the set valid printed nothing')
  t.equal(log.at(-1), 'sidecar: stopped by a signal; exiting')
  t.comment(`${polls.length} passes over ${Math.round((h.now() - start) / DAY)} days, ${gets} GETs`)
})

t.test('steady state: one GET a poll, all three Secrets every 6 hours', async (t) => {
  const mem = new MemorySecrets()
  seed(mem, initial, start)
  const stop = new AbortController()
  const poll = 10 * 60_000
  const h = fakeClock(start, () => {
    if (h.now() - start >= 2 * DAY) stop.abort('SIGTERM')
  })
  let gets = 0
  const store = mem.view('sidecar', async (what) => void (what.includes(' get ') && gets++))
  await ensureSecrets({ ...passOptions(store, h.clock), log: () => undefined, deadline: h.now() + 300_000 }) // warm the clock's set
  gets = 0
  const log: string[] = []
  await loop(h, passOptions(store, h.clock), stop.signal, log, poll)
  const passes = h.sleeps.length - 1
  const perHour = gets / ((h.now() - start) / 3_600_000)
  t.ok(perHour < 10, `${gets} GETs in ${passes} passes over two days of 10-minute polls: ${perHour.toFixed(1)} requests an hour (the first pass's 4 included)`)
  t.equal(log.length, 2, 'a start line and a stop line, nothing between')
})

t.test('picks up a rotate request put on the CA Secret while the pod runs', async (t) => {
  const mem = new MemorySecrets()
  seed(mem, initial, start)
  const stop = new AbortController()
  const issued: CertificateSet[] = []
  let polls = 0
  const h = fakeClock(start, (ms) => {
    if (ms < 20_000) return
    polls++
    if (polls === 2) {
      // `kubectl annotate secret contour-ca contour-tls-injection/rotate=token-2`
      const ca = mem.secrets.get(DEFAULT_NAMES.ca)
      if (ca !== undefined) mem.put({ ...ca, annotations: { ...ca.annotations, [RequestAnnotations.rotate]: 'token-2' } })
    }
    if (polls > 6) stop.abort('SIGTERM')
  })
  const log: string[] = []
  await loop(h, passOptions(mem.view('sidecar', async () => undefined), h.clock, { issued }), stop.signal, log)
  t.equal(issued.length, 1, 'one new set issued for the request')
  const changes = log.filter((l) => l.startsWith('sidecar: the set changed'))
  t.same(changes.map((l) => /\(([^)]+)\)/.exec(l)?.[1]), ['staged', 'switched'], 'a phased rotation: trust first, leaves a propagation delay later', { log })
  t.ok(log.some((l) => /rotat/.test(l)), 'its lines say it is a rotation')
  const leaf = mem.secrets.get(DEFAULT_NAMES.contour)
  t.not(leaf?.data['tls.crt']?.toString(), initial.contourCert, 'Contour\'s leaf is the new one')
  const bundle = mem.secrets.get(DEFAULT_NAMES.ca)?.data['ca.crt']?.toString() ?? ''
  const cas = splitCertificates(bundle).map((pem) => new X509Certificate(pem).fingerprint256)
  t.equal(cas.length, 2, 'two CAs in the bundle')
  t.equal(cas[1], new X509Certificate(initial.caCert).fingerprint256, 'the old CA still trusted after the new one (its leaves may still be in use)')
  t.equal(mem.secrets.get(DEFAULT_NAMES.ca)?.annotations[SecretAnnotations.phase], 'overlap', 'phase overlap until the old leaves expire')
})

t.test('adopts a rotation another pod made for a new rotate token, and never rotates back', async (t) => {
  const mem = new MemorySecrets()
  seed(mem, initial, start, 'token-1')
  const stop = new AbortController()
  const issued: CertificateSet[] = []
  let polls = 0
  const h = fakeClock(start, async (ms) => {
    if (ms < 20_000) return
    polls++
    // During the third night a new rollout's pod asks for token-2: its start stages the rotation.
    if (polls === 3) {
      const pass = passOptions(mem.view('new-pod', async () => undefined), h.clock, { rotateToken: 'token-2' })
      await ensureSecrets({ ...pass, log: () => undefined, deadline: h.now() + 300_000 })
    }
    if (polls > 8) stop.abort('SIGTERM')
  })
  const log: string[] = []
  await loop(h, passOptions(mem.view('old-pod', async () => undefined), h.clock, { rotateToken: 'token-1', issued }), stop.signal, log)
  t.same(issued, [], 'the running sidecar (token-1, already honoured) issued nothing')
  const changes = log.filter((l) => l.startsWith('sidecar: the set changed'))
  t.ok(changes.length >= 1, 'the change is logged', { log })
  t.match(changes[0], /^sidecar: the set changed \((by another pod|switched)\)/, 'first seen as another pod\'s work, or carried on by this one')
  t.equal(mem.secrets.get(DEFAULT_NAMES.ca)?.annotations[SecretAnnotations.rotateToken], 'token-2', 'the Secrets record token-2: nobody rotated back to token-1')
  t.equal(mem.secrets.get(DEFAULT_NAMES.ca)?.annotations[SecretAnnotations.phase] !== undefined, true)
})

t.test('survives a failing API: logs, retries sooner with backoff, never exits', async (t) => {
  const mem = new MemorySecrets()
  seed(mem, initial, start)
  const stop = new AbortController()
  let failing: 'forbidden' | 'unavailable' | undefined
  let polls = 0
  const h = fakeClock(start, (ms) => {
    if (ms < 20_000) return // a retry or pause inside a pass
    polls++
    if (polls === 2) failing = 'forbidden' // RBAC taken away: not retried inside a pass
    if (polls === 4) failing = undefined
    if (polls === 5) failing = 'unavailable' // an outage: retried inside a pass until its deadline
    if (polls === 8) failing = undefined
    if (polls === 9) stop.abort('SIGTERM')
  })
  const store = mem.view('sidecar', async (what) => {
    if (failing === 'forbidden') throw new SecretStoreError('forbidden', `${what}: 403 Forbidden`, { status: 403 })
    if (failing === 'unavailable') throw new SecretStoreError('unavailable', `${what}: connect ECONNREFUSED`)
  })
  const log: string[] = []
  await loop(h, passOptions(store, h.clock), stop.signal, log)
  const failures = log.filter((l) => l.startsWith('sidecar: checking the set failed'))
  t.equal(failures.length, 5, 'each failed pass logged once', { log })
  t.match(failures[0], /\(ERR_FORBIDDEN: .*403 Forbidden\); the set in place stays, trying again in about 30s/)
  t.match(failures[1], /trying again in about 1m00s/)
  t.match(failures[2], /\(ERR_API_UNAVAILABLE: the Kubernetes API stayed unavailable/)
  t.ok(log.some((l) => /ECONNREFUSED; retrying in/.test(l)), 'inside a pass, unavailable calls were retried (those lines printed with the failure)')
  const polled = h.sleeps.filter((s) => s >= 20_000)
  t.same(polled, [POLL, POLL, 30_000, 60_000, POLL, 30_000, 60_000, 120_000, POLL], 'poll, then 30 s doubling while failing, then the interval again')
  t.same(log.filter((l) => /can be read again/.test(l)), ['sidecar: the Secrets can be read again after 2 failed checks', 'sidecar: the Secrets can be read again after 3 failed checks'], 'each recovery reported once')
  t.equal(caFingerprint(mem), fingerprintSet(initial), 'the set was never touched')
  t.equal(log.at(-1), 'sidecar: stopped by a signal; exiting', 'only the signal ended it')
})

t.test('stops at once on SIGTERM: while sleeping, and in the middle of a pass that hangs', async (t) => {
  const mem = new MemorySecrets()
  seed(mem, initial, start)
  const first = await ensureSecrets({ ...passOptions(mem.view('s', async () => undefined), fakeClock(start).clock), log: () => undefined, deadline: start + 300_000 })
  const asleep = new AbortController()
  const never: Clock = { now: () => start, random: () => 0.5, sleep: () => new Promise(() => undefined) }
  const log: string[] = []
  const sleeping = runSidecarLoop({ pass: passOptions(mem.view('s', async () => undefined), never), first, pollIntervalMs: POLL, passTimeoutMs: 300_000, clock: never, log: (l) => log.push(l), signal: asleep.signal })
  setTimeout(() => asleep.abort('SIGTERM'), 20)
  const began = Date.now()
  await sleeping
  t.ok(Date.now() - began < 3000, 'returned promptly from a sleep that never ends by itself (generous: the machine may be busy)')
  t.equal(log.at(-1), 'sidecar: stopped by a signal; exiting')

  const midPass = new AbortController()
  let closed = 0
  const h = fakeClock(start)
  const hanging = mem.view('s', () => new Promise(() => undefined)) // the apiserver never answers
  const passing = runSidecarLoop({ pass: passOptions(hanging, h.clock), first, pollIntervalMs: POLL, passTimeoutMs: 300_000, clock: h.clock, log: () => undefined, signal: midPass.signal, afterPass: () => closed++ })
  setTimeout(() => midPass.abort('SIGTERM'), 20)
  await passing
  t.equal(closed, 1, 'the pass was abandoned and its connections closed')
})

t.test('holds nothing from pass to pass: no abort listeners pile up over 200 passes', async (t) => {
  const mem = new MemorySecrets()
  seed(mem, initial, start)
  const stop = new AbortController()
  let most = 0
  let least = Infinity
  const h = fakeClock(start, async (ms) => {
    await new Promise((resolve) => setImmediate(resolve)) // the loop has registered its listener by now
    const listeners = getEventListeners(stop.signal, 'abort').length
    most = Math.max(most, listeners)
    least = Math.min(least, listeners)
    if (ms >= POLL * 0.8 && h.sleeps.filter((s) => s >= POLL * 0.8).length >= 200) stop.abort('SIGTERM')
  })
  await loop(h, passOptions(mem.view('s', async () => undefined), h.clock), stop.signal, [])
  t.ok(least >= 1, 'the loop listens while it sleeps (the measurement sees it)')
  t.ok(most <= 2, `at most ${most} abort listeners at any time over 200 passes`)
})
