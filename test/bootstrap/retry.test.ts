// Backoff: capped, jittered, never past the deadline; only "unavailable" is retried.
import t from 'tap'
import type { Clock } from '../../src/bootstrap/clock.ts'
import { backoffDelay, withRetry } from '../../src/bootstrap/retry.ts'
import { SecretStoreError } from '../../src/bootstrap/secret-store.ts'

function fakeClock(random = 0.5): Clock & { slept: number[] } {
  let now = 0
  const slept: number[] = []
  return { now: () => now, sleep: async (ms) => void (slept.push(ms), (now += ms)), random: () => random, slept }
}

t.test('backoff grows exponentially, is capped, and jitters between half and all of it', async (t) => {
  t.same([1, 2, 3, 4, 5, 6, 7, 8].map((n) => backoffDelay(n, 1)), [250, 500, 1000, 2000, 4000, 5000, 5000, 5000])
  t.same([1, 2, 3, 8].map((n) => backoffDelay(n, 0)), [125, 250, 500, 2500])
  t.equal(backoffDelay(1000, 1), 5000, 'no overflow for large attempts')
})

t.test('retries unavailable answers until one succeeds', async (t) => {
  const clock = fakeClock()
  const lines: string[] = []
  let calls = 0
  const value = await withRetry('get Secret x', async () => {
    if (++calls < 4) throw new SecretStoreError('unavailable', 'get Secret x in namespace n: 503', { status: 503 })
    return 'ok'
  }, { clock, deadline: 60_000, log: (l) => lines.push(l) })
  t.equal(value, 'ok')
  t.equal(calls, 4)
  t.same(clock.slept, [188, 375, 750])
  t.match(lines[0], /^get Secret x in namespace n: 503; retrying in 0\.2s \(attempt 2\)$/)
})

t.test('honours Retry-After from a 429', async (t) => {
  const clock = fakeClock()
  let calls = 0
  await withRetry('create', async () => {
    if (++calls === 1) throw new SecretStoreError('unavailable', '429', { status: 429, retryAfterMs: 3000 })
  }, { clock, deadline: 60_000, log: () => undefined })
  t.same(clock.slept, [3000])
})

t.test('gives up with ERR_API_UNAVAILABLE rather than sleep past the deadline', async (t) => {
  const clock = fakeClock()
  await t.rejects(
    withRetry('get Secret x', async () => {
      throw new SecretStoreError('unavailable', 'get Secret x in namespace n: ECONNREFUSED')
    }, { clock, deadline: 2000, log: () => undefined }),
    { code: 'ERR_API_UNAVAILABLE', message: /stayed unavailable until the wait timeout \(get Secret x: \d+ attempts; last: .*ECONNREFUSED\)/ },
  )
  t.ok(clock.now() <= 2000)
})

t.test('anything else is not retried', async (t) => {
  for (const kind of ['forbidden', 'unauthorized', 'conflict', 'failed'] as const) {
    let calls = 0
    await t.rejects(withRetry('op', async () => {
      calls++
      throw new SecretStoreError(kind, kind)
    }, { clock: fakeClock(), deadline: 60_000, log: () => undefined }), { name: 'SecretStoreError', kind })
    t.equal(calls, 1, kind)
  }
})
