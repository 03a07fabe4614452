// Hot-path counters for /mutate. prom-client hashes its label objects on every inc/observe, which
// cost more than the injection itself under load; here a request does one Map lookup and a few
// array writes, and prom-client's registry formats the figures only when /metrics is scraped.
import type { Registry } from 'prom-client'

interface Series {
  readonly labels: Record<string, string>
  count: number
}

interface HistogramSeries {
  readonly labels: Record<string, string>
  readonly buckets: Float64Array
  sum: number
  count: number
}

interface MetricValue {
  value: number
  labels: Record<string, string | number>
  metricName?: string
}

/** A labelled counter: `inc(key)` where key is the '|'-joined label values in declared order. */
export class FastCounter {
  private readonly series = new Map<string, Series>()
  readonly name: string
  readonly help: string
  private readonly labelNames: readonly string[]
  constructor(name: string, help: string, labelNames: readonly string[]) {
    this.name = name
    this.help = help
    this.labelNames = labelNames
  }

  inc(...values: string[]): void {
    const key = values.join('|')
    let s = this.series.get(key)
    if (s === undefined) {
      const labels: Record<string, string> = {}
      this.labelNames.forEach((n, i) => (labels[n] = values[i] ?? ''))
      this.series.set(key, (s = { labels, count: 0 }))
    }
    s.count++
  }

  get(): { name: string; help: string; type: 'counter'; values: MetricValue[]; aggregator: 'sum' } {
    const values = [...this.series.values()].map((s) => ({ value: s.count, labels: s.labels }))
    return { name: this.name, help: this.help, type: 'counter', values, aggregator: 'sum' }
  }
}

/** A histogram with one label; cumulative buckets are computed at scrape time. */
export class FastHistogram {
  private readonly series = new Map<string, HistogramSeries>()
  readonly name: string
  readonly help: string
  private readonly labelName: string
  private readonly upperBounds: readonly number[]
  constructor(name: string, help: string, labelName: string, upperBounds: readonly number[]) {
    this.name = name
    this.help = help
    this.labelName = labelName
    this.upperBounds = upperBounds
  }

  observe(labelValue: string, seconds: number): void {
    let s = this.series.get(labelValue)
    if (s === undefined) this.series.set(labelValue, (s = { labels: { [this.labelName]: labelValue }, buckets: new Float64Array(this.upperBounds.length), sum: 0, count: 0 }))
    const i = this.upperBounds.findIndex((le) => seconds <= le)
    if (i >= 0) s.buckets[i] = (s.buckets[i] ?? 0) + 1
    s.sum += seconds
    s.count++
  }

  get(): { name: string; help: string; type: 'histogram'; values: MetricValue[]; aggregator: 'sum' } {
    const values: MetricValue[] = []
    for (const s of this.series.values()) {
      let cumulative = 0
      this.upperBounds.forEach((le, i) => {
        cumulative += s.buckets[i] ?? 0
        values.push({ metricName: `${this.name}_bucket`, labels: { le, ...s.labels }, value: cumulative })
      })
      values.push({ metricName: `${this.name}_bucket`, labels: { le: '+Inf', ...s.labels }, value: s.count })
      values.push({ metricName: `${this.name}_sum`, labels: s.labels, value: s.sum })
      values.push({ metricName: `${this.name}_count`, labels: s.labels, value: s.count })
    }
    return { name: this.name, help: this.help, type: 'histogram', values, aggregator: 'sum' }
  }
}

export function registerFast(registry: Registry, metric: FastCounter | FastHistogram): void {
  // The registry only calls get() and reads name/help/type: the structural contract of a collector.
  registry.registerMetric(metric as unknown as Parameters<Registry['registerMetric']>[0])
}
