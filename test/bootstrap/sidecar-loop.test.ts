// The sidecar's loop against the in-memory Secrets, on a fake clock that jumps to each wake-up:
// months of polling run in a moment. It renews a set that becomes due while it runs, adopts a
// rotation another pod made and never rotates back, outlives a failing API, and ends at once on
// SIGTERM, also in the middle of a pass. A pass that changes nothing logs nothing.
import { X509Certificate } from 'node:crypto'
import { getEventListeners } from 'node:events'
import t from 'tap'
import type { Clock } from '../../src/bootstrap/clock.ts'
import { ensureSecrets } from '../../src/bootstrap/ensure-secrets.ts'
import { buildSecretWrite, nextTokens, SecretAnnotations, type SecretRole } from '../../src/bootstrap/secret-model.ts'
import { SecretStoreError, type SecretStore } from '../../src/bootstrap/secret-store.ts'
import { nextDelay, runSidecarLoop, type PassOptions, type SidecarLoopOptions } from '../../src/bootstrap/sidecar-loop.ts'
import { checkCertificateSet } from '../../src/core/certs/check-set.ts'
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

function loop(h: Harness, pass: PassOptions, fingerprint: string, signal: AbortSignal, log: string[]): Promise<void> {
  const options: SidecarLoopOptions = { pass, fingerprint, pollIntervalMs: POLL, passTimeoutMs: 300_000, clock: h.clock, log: (line) => log.push(line), signal }
  return runSidecarLoop(options)
}

const start = Date.now()
const initial = await issueCertificateSet({ namespace: 'sidecar', now: new Date(start) })

t.test('poll delays: the interval +-20%, sooner after a failure, backing off up to the interval', async (t) => {
  t.equal(nextDelay(600_000, 0, 0), 480_000)
  t.equal(nextDelay(600_000, 0, 0.999_999), 720_000)
  t.equal(nextDelay(600_000, 0, 0.5), 600_000)
  t.same([1, 2, 3, 4, 5, 6].map((f) => nextDelay(600_000, f, 0.5)), [30_000, 60_000, 120_000, 240_000, 480_000, 600_000])
})

t.test('renews the set when it becomes due while the pod runs, and logs only then', async (t) => {
  const mem = new MemorySecrets()
  seed(mem, initial, start)
  const stop = new AbortController()
  let passes = 0
  let renewedAfter: number | undefined
  const h = fakeClock(start, (ms) => {
    if (ms < POLL * 0.8) return // a pause inside a pass, not the loop's poll
    passes++
    if (renewedAfter === undefined && caFingerprint(mem) !== fingerprintSet(initial)) renewedAfter = passes
    if (renewedAfter !== undefined && passes > renewedAfter + 3) stop.abort('SIGTERM')
  })
  const log: string[] = []
  const gets: string[] = []
  const store = mem.view('sidecar', async (what) => void gets.push(what))
  await loop(h, passOptions(store, h.clock), fingerprintSet(initial), stop.signal, log)
  t.ok(renewedAfter !== undefined, `renewed after ${renewedAfter} daily passes`)
  // Renewal is due when less than a third of 365 days is left: after about 244 days.
  const days = (renewedAfter ?? 0) - 1
  t.ok(days >= 240 && days <= 246, `renewed on day ${days}, when a third of the lifetime was left`)
  const { ca } = DEFAULT_NAMES
  const written = mem.writes.filter((w) => w.replica === 'sidecar').map((w) => w.name)
  t.same(written.filter((n) => n === ca).length, 2, 'one round: the CA Secret claimed, then marked complete')
  t.same(written.length, 4, 'and each leaf written once')
  t.match(log[0], /^sidecar: the set is in place; checking it again every \S+ \(\+-20%\)$/, 'one line at the start')
  const changed = log.filter((l) => l.startsWith('sidecar: the set changed'))
  t.equal(changed.length, 1, 'one change logged', { log })
  t.match(changed[0], /^sidecar: the set changed \(renewed\): [0-9a-f]{16} -> [0-9a-f]{16}/)
  t.ok(log.some((l) => /writing a new set: the set is due for renewal/.test(l)), 'the pass\'s own lines are printed when it changed something')
  t.notOk(log.some((l) => /using the existing set/.test(l)), 'passes that found the set valid printed nothing')
  t.equal(log.at(-1), 'sidecar: stopped by a signal; exiting')
  // Each pass reads a consistent snapshot: the CA Secret, both leaves, the CA Secret again.
  const reads = gets.filter((g) => g.includes(' get ')).length
  t.ok(reads <= 4 * passes + 8, `${reads} GETs in ${passes} passes (${gets.length - reads} writes): four a pass`)
})

t.test('adopts a rotation another pod made for a new rotate token, and never rotates back', async (t) => {
  const mem = new MemorySecrets()
  seed(mem, initial, start, 'token-1')
  const stop = new AbortController()
  const issued: CertificateSet[] = []
  let rotated: Awaited<ReturnType<typeof ensureSecrets>> | undefined
  const h = fakeClock(start, async (ms) => {
    if (ms < POLL * 0.8) return
    const polls = h.sleeps.filter((s) => s >= POLL * 0.8).length
    // During the third night a new rollout's pod asks for token-2: its start rotates the set.
    if (polls === 3) {
      const pass = passOptions(mem.view('new-pod', async () => undefined), h.clock, { rotateToken: 'token-2' })
      rotated = await ensureSecrets({ ...pass, log: () => undefined, deadline: h.now() + 300_000 })
    }
    if (polls > 8) stop.abort('SIGTERM')
  })
  const log: string[] = []
  const running = loop(h, passOptions(mem.view('old-pod', async () => undefined), h.clock, { rotateToken: 'token-1', issued }), fingerprintSet(initial), stop.signal, log)
  await running
  if (rotated === undefined) return t.fail('the new pod did not run')
  t.equal(rotated.outcome, 'rotated', 'the new pod rotated the set')
  t.same(issued, [], 'the running sidecar (token-1, already honoured) issued nothing')
  t.equal(caFingerprint(mem), rotated.fingerprint, 'the Secrets still hold the rotated set')
  const changed = log.filter((l) => l.startsWith('sidecar: the set changed'))
  t.equal(changed.length, 1, 'the change is logged once', { log })
  t.match(changed[0], new RegExp(`^sidecar: the set changed \\(replaced by another pod\\): ${fingerprintSet(initial).slice(0, 16)} -> ${rotated.fingerprint.slice(0, 16)}`))
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
  await loop(h, { ...passOptions(store, h.clock) }, fingerprintSet(initial), stop.signal, log)
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
  const asleep = new AbortController()
  const never: Clock = { now: () => start, random: () => 0.5, sleep: () => new Promise(() => undefined) }
  const log: string[] = []
  const sleeping = runSidecarLoop({ pass: passOptions(mem.view('s', async () => undefined), never), fingerprint: fingerprintSet(initial), pollIntervalMs: POLL, passTimeoutMs: 300_000, clock: never, log: (l) => log.push(l), signal: asleep.signal })
  setTimeout(() => asleep.abort('SIGTERM'), 20)
  const began = Date.now()
  await sleeping
  t.ok(Date.now() - began < 500, 'returned promptly from a sleep that never ends by itself')
  t.equal(log.at(-1), 'sidecar: stopped by a signal; exiting')

  const midPass = new AbortController()
  let closed = 0
  const h = fakeClock(start)
  const hanging = mem.view('s', () => new Promise(() => undefined)) // the apiserver never answers
  const passing = runSidecarLoop({ pass: passOptions(hanging, h.clock), fingerprint: fingerprintSet(initial), pollIntervalMs: POLL, passTimeoutMs: 300_000, clock: h.clock, log: () => undefined, signal: midPass.signal, afterPass: () => closed++ })
  setTimeout(() => midPass.abort('SIGTERM'), 20)
  await passing
  t.equal(closed, 1, 'the pass was abandoned and its connections closed')
})

t.test('holds nothing from pass to pass: no abort listeners pile up over a year of passes', async (t) => {
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
  await loop(h, passOptions(mem.view('s', async () => undefined), h.clock), fingerprintSet(initial), stop.signal, [])
  t.ok(least >= 1, 'the loop listens while it sleeps (the measurement sees it)')
  t.ok(most <= 2, `at most ${most} abort listeners at any time over 200 passes`)
})
