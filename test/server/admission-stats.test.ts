import t from 'tap'
import { Registry } from 'prom-client'
import { FastCounter, FastHistogram, registerFast } from '../../src/server/admission-stats.ts'

t.test('counter and histogram expose Prometheus text through prom-client', async (t) => {
  const registry = new Registry()
  const counter = new FastCounter('x_total', 'help x', ['outcome', 'reason'])
  const histogram = new FastHistogram('x_seconds', 'help h', 'outcome', [0.001, 0.01])
  registerFast(registry, counter)
  registerFast(registry, histogram)
  counter.inc('injected', '')
  counter.inc('injected', '')
  counter.inc('skipped', 'opted-out')
  histogram.observe('injected', 0.0005)
  histogram.observe('injected', 0.005)
  histogram.observe('injected', 2)
  const text = await registry.metrics()
  t.match(text, /# TYPE x_total counter/)
  t.match(text, /^x_total\{outcome="injected",reason=""\} 2$/m)
  t.match(text, /^x_total\{outcome="skipped",reason="opted-out"\} 1$/m)
  t.match(text, /# TYPE x_seconds histogram/)
  t.match(text, /^x_seconds_bucket\{le="0.001",outcome="injected"\} 1$/m)
  t.match(text, /^x_seconds_bucket\{le="0.01",outcome="injected"\} 2$/m, 'buckets are cumulative')
  t.match(text, /^x_seconds_bucket\{le="\+Inf",outcome="injected"\} 3$/m)
  t.match(text, /^x_seconds_count\{outcome="injected"\} 3$/m)
  t.match(text, /^x_seconds_sum\{outcome="injected"\} 2.0055$/m)
})
