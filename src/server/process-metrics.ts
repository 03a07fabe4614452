// prom-client's default process metrics, all but one: nodejs_gc_duration_seconds. Its
// PerformanceObserver on every garbage collection raised the webhook's peak RSS under load from
// about 100 MB to about 120 MB (`npm run bench`, 32 connections), for one histogram. CPU, memory,
// heap spaces, event loop lag, handles, requests, file descriptors and version remain.
import { collectDefaultMetrics, type Registry } from 'prom-client'
import eventLoopLag from 'prom-client/lib/metrics/eventLoopLag.js'
import heapSizeAndUsed from 'prom-client/lib/metrics/heapSizeAndUsed.js'
import heapSpacesSizeAndUsed from 'prom-client/lib/metrics/heapSpacesSizeAndUsed.js'
import osMemoryHeap from 'prom-client/lib/metrics/osMemoryHeap.js'
import processCpuTotal from 'prom-client/lib/metrics/processCpuTotal.js'
import processHandles from 'prom-client/lib/metrics/processHandles.js'
import processMaxFileDescriptors from 'prom-client/lib/metrics/processMaxFileDescriptors.js'
import processOpenFileDescriptors from 'prom-client/lib/metrics/processOpenFileDescriptors.js'
import processRequests from 'prom-client/lib/metrics/processRequests.js'
import processResources from 'prom-client/lib/metrics/processResources.js'
import processStartTime from 'prom-client/lib/metrics/processStartTime.js'
import version from 'prom-client/lib/metrics/version.js'

/** prom-client's names for its default metrics (collectDefaultMetrics.metricsList), as registered here. */
export const PROCESS_METRICS = {
  processCpuTotal,
  processStartTime,
  osMemoryHeap,
  processOpenFileDescriptors,
  processMaxFileDescriptors,
  eventLoopLag,
  processResources,
  processHandles,
  processRequests,
  heapSizeAndUsed,
  heapSpacesSizeAndUsed,
  version,
} as const

/** The default metrics prom-client has and this module leaves out on purpose. */
export const OMITTED_DEFAULT_METRICS: readonly string[] = ['gc']

export function registerProcessMetrics(registry: Registry, prefix: string): void {
  // The same configuration collectDefaultMetrics applies.
  const config = { prefix, eventLoopMonitoringPrecision: 10 }
  for (const register of Object.values(PROCESS_METRICS)) register(registry, config)
}

/** For the test that keeps this list in step with the installed prom-client. */
export function defaultMetricNames(): readonly string[] {
  return (collectDefaultMetrics as unknown as { metricsList: string[] }).metricsList
}
