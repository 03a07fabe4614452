// Prometheus metrics on a registry of our own (no global state shared between app instances in tests).
import { Counter, Registry } from 'prom-client'
import { FastCounter, FastHistogram, registerFast } from './admission-stats.ts'
import { registerProcessMetrics } from './process-metrics.ts'

export interface WebhookMetrics {
  readonly registry: Registry
  /** inc(outcome, reason, role) */
  readonly admissions: FastCounter
  readonly errors: Counter<'code'>
  /** observe(outcome, seconds) */
  readonly latency: FastHistogram
  readonly certReloads: Counter<'result'>
}

// Millisecond resolution at the low end: the apiserver's own webhook latency buckets start at 5 ms,
// and an injection takes well under one.
const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1]

export function createMetrics(options: { processMetrics: boolean }): WebhookMetrics {
  const registry = new Registry()
  if (options.processMetrics) registerProcessMetrics(registry, 'contour_tls_injector_')
  const admissions = new FastCounter(
    'contour_tls_injector_admissions_total',
    'Admission reviews answered, by outcome (injected, taken-over: injected in place of existing TLS, skipped, ignored), skip reason and pod role',
    ['outcome', 'reason', 'role'],
  )
  const latency = new FastHistogram(
    'contour_tls_injector_admission_duration_seconds',
    'Time to answer POST /mutate, from body parsed to response built',
    'outcome',
    LATENCY_BUCKETS,
  )
  registerFast(registry, admissions)
  registerFast(registry, latency)
  return {
    registry,
    admissions,
    latency,
    errors: new Counter({
      name: 'contour_tls_injector_request_errors_total',
      help: 'Requests refused with an HTTP error, by stable error code',
      labelNames: ['code'],
      registers: [registry],
    }),
    certReloads: new Counter({
      name: 'contour_tls_injector_serving_cert_reloads_total',
      help: 'Serving certificate reloads, by result (ok, error)',
      labelNames: ['result'],
      registers: [registry],
    }),
  }
}
