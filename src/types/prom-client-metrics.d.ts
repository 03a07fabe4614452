// prom-client's default metrics, one module each (prom-client has no exports map; see
// src/server/process-metrics.ts for why they are registered one by one).
declare module 'prom-client/lib/metrics/*.js' {
  import type { Registry } from 'prom-client'
  const register: (registry: Registry, config: { prefix?: string; eventLoopMonitoringPrecision?: number }) => void
  export default register
}
