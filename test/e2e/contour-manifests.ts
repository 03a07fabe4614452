// A Contour release's own manifests, made applicable to one test namespace: the namespace is
// rewritten (with the yaml package), cluster-scoped and obsolete objects (Namespace, CRDs,
// cluster RBAC, rbac/v1beta1) and the certgen Job are left out, and pods that point at
// certgen's Secrets either stay as shipped (taken over by the webhook) or get the golden test's
// "insecure variant" (what a user without certgen runs).
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { V1Pod, V1PodTemplateSpec } from '@kubernetes/client-node'
import YAML from 'yaml'
import { contourFixturesDir, YAML_OPTIONS } from '../core/injection/support/load-upstream-pods.ts'
import { hasUpstreamTls, makeInsecureVariant } from '../core/injection/support/upstream-variants.ts'

export const RELEASES = readdirSync(contourFixturesDir).sort()

/** Kinds applied; everything else in the fixtures is cluster-scoped or irrelevant to pod admission. */
const APPLIED_KINDS = new Set(['ServiceAccount', 'ConfigMap', 'Service', 'Deployment', 'DaemonSet'])

export interface Workload {
  readonly kind: 'Deployment' | 'DaemonSet'
  readonly name: string
  /** Pods its controller creates on the one-node cluster. */
  readonly replicas: number
  /** The pod the controller submits (template + namespace), after the insecure variant if any. */
  readonly pod: V1Pod
  readonly insecureVariant: boolean
  readonly source: string
}

export interface ReleaseManifests {
  readonly tag: string
  readonly yaml: string
  readonly workloads: readonly Workload[]
}

interface Doc {
  apiVersion?: string
  kind?: string
  metadata?: { name?: string; namespace?: string }
  spec?: { replicas?: number; template?: V1PodTemplateSpec }
}

/** Numbered files only: the all-in-one `contour*.yaml` files repeat them. */
function releaseFiles(tag: string): string[] {
  return readdirSync(join(contourFixturesDir, tag)).filter((f) => /^\d\d-.*\.yaml$/.test(f) && !f.includes('certgen')).sort()
}

export function loadRelease(tag: string, namespace: string, opts: { asShipped?: boolean } = {}): ReleaseManifests {
  const docs: Doc[] = []
  const workloads: Workload[] = []
  for (const file of releaseFiles(tag)) {
    const text = readFileSync(join(contourFixturesDir, tag, file), 'utf8')
    for (const document of YAML.parseAllDocuments(text, YAML_OPTIONS)) {
      const doc = document.toJS() as Doc | null
      if (doc === null || doc.kind === undefined || !APPLIED_KINDS.has(doc.kind)) continue
      doc.metadata = { ...doc.metadata, namespace }
      if ((doc.kind === 'Deployment' || doc.kind === 'DaemonSet') && doc.spec?.template?.spec !== undefined) {
        const template = doc.spec.template
        const pod: V1Pod = { apiVersion: 'v1', kind: 'Pod', metadata: { ...template.metadata, namespace }, spec: template.spec }
        const insecureVariant = opts.asShipped !== true && hasUpstreamTls(pod)
        const used = insecureVariant ? makeInsecureVariant(pod) : structuredClone(pod)
        doc.spec.template = { metadata: template.metadata, spec: used.spec }
        workloads.push({
          kind: doc.kind,
          name: doc.metadata.name ?? '',
          replicas: doc.kind === 'DaemonSet' ? 1 : (doc.spec.replicas ?? 1),
          pod: used,
          insecureVariant,
          source: `${tag}/${file}`,
        })
      }
      docs.push(doc)
    }
  }
  // v0.15.0 ships no ServiceAccount; admission refuses pods whose service account is missing.
  const accounts = new Set(docs.filter((d) => d.kind === 'ServiceAccount').map((d) => d.metadata?.name))
  for (const w of workloads) {
    const sa = w.pod.spec?.serviceAccountName
    if (sa !== undefined && !accounts.has(sa)) {
      docs.unshift({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: sa, namespace } })
      accounts.add(sa)
    }
  }
  return { tag, yaml: docs.map((d) => YAML.stringify(d)).join('---\n'), workloads }
}
