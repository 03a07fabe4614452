// The certificate lifecycle as Prometheus metrics, in the text exposition format, computed from the
// sidecar's last pass. Pure: no registry, no I/O (the sidecar serves the text; see sidecar-loop.ts).
// Written by hand because six gauges do not justify loading prom-client into a process that must
// stay small; the format is the plain text one (version 0.0.4).
import { X509Certificate } from 'node:crypto'
import { PHASES, phaseOf, STEP_KINDS, type StepKind } from '../core/rotation/trust-state.ts'
import type { EnsuredSecrets } from './ensure-secrets.ts'

export interface LifecycleCounters {
  /** Steps this process completed, by kind. */
  readonly steps: Readonly<Partial<Record<StepKind, number>>>
  /** Passes that failed (API errors), since start. */
  readonly failedPasses: number
}


export function renderLifecycleMetrics(namespace: string, last: EnsuredSecrets | undefined, counters: LifecycleCounters): string {
  const out: string[] = []
  const gauge = (name: string, help: string, samples: ReadonlyArray<[Record<string, string>, number]>, type = 'gauge'): void => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`)
    for (const [labels, value] of samples) out.push(`${name}{${Object.entries(labels).map(([k, v]) => `${k}="${escape(v)}"`).join(',')}} ${value}`)
  }
  const base = { namespace, secret: last?.secrets.ca.name ?? '' }
  if (last !== undefined) {
    const leafNotAfter = (pem: Buffer | undefined): number => (pem === undefined ? Number.NaN : new X509Certificate(pem).validToDate.getTime() / 1000)
    gauge('contour_tls_injector_certificate_not_after_seconds', 'When each certificate in use expires (Unix seconds): the CA that signs the leaves, and the Contour and Envoy leaves.', [
      [{ ...base, certificate: 'ca' }, last.notAfter.getTime() / 1000],
      [{ ...base, certificate: 'contour' }, leafNotAfter(last.secrets.contour.data['tls.crt'])],
      [{ ...base, certificate: 'envoy' }, leafNotAfter(last.secrets.envoy.data['tls.crt'])],
    ])
    const phase = last.state ? phaseOf(last.state) : undefined
    gauge('contour_tls_injector_set_phase', 'The set\'s rotation phase: 1 for the current one.', PHASES.map((p) => [{ ...base, phase: p }, p === phase ? 1 : 0]))
    gauge('contour_tls_injector_trusted_cas', 'CAs in the trust bundle (ca.crt).', [[base, last.state?.bundle.length ?? 0]])
    if (last.nextAt !== undefined) gauge('contour_tls_injector_next_step_seconds', 'When the next step falls due (switch, drop or renewal), Unix seconds.', [[base, last.nextAt / 1000]])
  }
  gauge('contour_tls_injector_lifecycle_steps_total', 'Lifecycle steps this process completed, by kind.', STEP_KINDS.map((s) => [{ namespace, step: s }, counters.steps[s] ?? 0]), 'counter')
  gauge('contour_tls_injector_lifecycle_failed_passes_total', 'Passes over the Secrets that failed (API errors); the next poll tries again.', [[{ namespace }, counters.failedPasses]], 'counter')
  return `${out.join('\n')}\n`
}

function escape(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
}
