import t from 'tap'
import { Registry } from 'prom-client'
import { OMITTED_DEFAULT_METRICS, PROCESS_METRICS, defaultMetricNames, registerProcessMetrics } from '../../src/server/process-metrics.ts'
import { createMetrics } from '../../src/server/metrics.ts'

t.test('every prom-client default metric is registered, except the ones left out on purpose', async (t) => {
  t.same(
    [...Object.keys(PROCESS_METRICS), ...OMITTED_DEFAULT_METRICS].sort(),
    [...defaultMetricNames()].sort(),
    'in step with the installed prom-client',
  )
})

t.test('the exposition has process metrics and no GC histogram', async (t) => {
  const registry = new Registry()
  registerProcessMetrics(registry, 'x_')
  const text = await registry.metrics()
  for (const name of ['x_process_cpu_user_seconds_total', 'x_process_resident_memory_bytes', 'x_nodejs_eventloop_lag_p99_seconds', 'x_nodejs_heap_space_size_used_bytes', 'x_nodejs_active_handles_total', 'x_process_open_fds', 'x_nodejs_version_info']) {
    t.match(text, new RegExp(`^${name}`, 'm'), name)
  }
  t.notMatch(text, /gc_duration/, 'no nodejs_gc_duration_seconds')
  const webhook = await createMetrics({ processMetrics: true }).registry.metrics()
  t.match(webhook, /^contour_tls_injector_process_resident_memory_bytes /m, 'the webhook registers them with its prefix')
})
