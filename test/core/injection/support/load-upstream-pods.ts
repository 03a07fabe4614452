// Pods as Contour's own releases would create them: every Deployment and DaemonSet template in
// ../shared/fixtures/contour/<tag>/*.yaml turned into the Pod its controller would submit.
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import type { V1Pod, V1PodTemplateSpec } from '@kubernetes/client-node'
import YAML from 'yaml'

export const repoRoot = path.resolve(import.meta.dirname, '../../../..')
export const contourFixturesDir = path.resolve(repoRoot, '../shared/fixtures/contour')

/** Kubernetes reads manifests as YAML 1.1 (`defaultMode: 0644` is octal there). */
export const YAML_OPTIONS = { version: '1.1' } as const

export interface UpstreamCase {
  /** `<tag>--<file>--<kind>-<name>` of the first file holding this template. */
  readonly name: string
  /** `<tag>/<file>` of every file holding an identical template (all-in-one files repeat them). */
  readonly sources: string[]
  readonly pod: V1Pod
}

interface Workload {
  readonly kind?: string
  readonly metadata?: { readonly name?: string; readonly namespace?: string }
  readonly spec?: { readonly template?: V1PodTemplateSpec }
}

export function loadUpstreamCases(fixturesDir: string = contourFixturesDir): UpstreamCase[] {
  const cases: UpstreamCase[] = []
  const byContent = new Map<string, UpstreamCase>()
  for (const tag of readdirSync(fixturesDir).sort()) {
    const files = readdirSync(path.join(fixturesDir, tag)).filter((file) => file.endsWith('.yaml')).sort()
    for (const file of files) {
      const text = readFileSync(path.join(fixturesDir, tag, file), 'utf8')
      for (const document of YAML.parseAllDocuments(text, YAML_OPTIONS)) {
        const workload = document.toJS() as Workload | null
        const pod = workload === null ? undefined : makePod(workload)
        if (pod === undefined || workload === null) continue
        const source = `${tag}/${file}`
        const key = `${tag}\n${JSON.stringify(pod)}`
        const seen = byContent.get(key)
        if (seen !== undefined) {
          seen.sources.push(source)
          continue
        }
        const kind = (workload.kind ?? '').toLowerCase()
        const name = `${tag}--${file.replace(/\.yaml$/, '')}--${kind}-${workload.metadata?.name ?? 'unnamed'}`
        const entry = { name, sources: [source], pod }
        byContent.set(key, entry)
        cases.push(entry)
      }
    }
  }
  return cases
}

export const chartFixturesDir = path.resolve(repoRoot, '../shared/fixtures/charts')

/** Every Deployment and DaemonSet pod of the rendered charts (`<chart>-<version>.yaml`), named `chart--<file>--<kind>-<name>`. */
export function loadChartCases(dir: string = chartFixturesDir): UpstreamCase[] {
  const cases: UpstreamCase[] = []
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort()) {
    for (const document of YAML.parseAllDocuments(readFileSync(path.join(dir, file), 'utf8'), YAML_OPTIONS)) {
      const workload = document.toJS() as Workload | null
      const pod = workload === null ? undefined : makePod(workload)
      if (pod === undefined || workload === null) continue
      const kind = (workload.kind ?? '').toLowerCase()
      cases.push({ name: `chart--${file.replace(/\.yaml$/, '')}--${kind}-${workload.metadata?.name ?? 'unnamed'}`, sources: [`charts/${file}`], pod })
    }
  }
  return cases
}

/** The Pod a Deployment's or DaemonSet's controller submits, namespace included. */
export function makePod(workload: Workload): V1Pod | undefined {
  if (workload.kind !== 'Deployment' && workload.kind !== 'DaemonSet') return undefined
  const template = workload.spec?.template
  if (template?.spec === undefined) return undefined
  const metadata = { ...template.metadata, namespace: workload.metadata?.namespace ?? 'default' }
  return { apiVersion: 'v1', kind: 'Pod', metadata, spec: structuredClone(template.spec) }
}
