// The injection engine's entry point: a pod (as untrusted JSON) and settings in, a decision and
// a JSON patch out. Pure: the webhook adapts it to AdmissionReview, tests call it directly.
import { analyzePod } from './analyze-pod.ts'
import { certgenSuffix } from './certgen-secrets.ts'
import type { TakeOver } from './plan-take-over.ts'
import type { Skip } from './skip.ts'
import { buildPatch } from './build-patch.ts'
import { planMounts } from './plan-mounts.ts'
import { ArgvKinds, classifyArgv } from './argv.ts'
import { readPod, type PodView } from './read-pod.ts'
import { DEFAULT_BOOTSTRAP_MODE, DEFAULT_EXISTING_TLS, DEFAULT_MOUNT_ROOT, DEFAULT_SECRET_NAMES, SkipReasons, WARNED_SKIP_REASONS } from './types.ts'
import type { InjectionResult, InjectionSettings } from './types.ts'

export function defaultInjectionSettings(version: string, image: string): InjectionSettings {
  return Object.freeze({
    image,
    imagePullPolicy: 'IfNotPresent',
    secretNames: DEFAULT_SECRET_NAMES,
    mountRoot: DEFAULT_MOUNT_ROOT,
    version,
    existingTls: DEFAULT_EXISTING_TLS,
    bootstrapMode: DEFAULT_BOOTSTRAP_MODE,
  })
}

/** Never throws: anything that is not a pod it can patch is skipped as `not-a-pod`. */
export function injectPod(pod: unknown, settings: InjectionSettings): InjectionResult {
  const view = readPod(pod)
  if (view === undefined) return toSkipped({ outcome: 'skip', reason: SkipReasons.notAPod })
  const analysis = analyzePod(view, settings)
  if (analysis.outcome === 'skip') return toSkipped(analysis)
  const mounts = planMounts(view, analysis.plan, settings)
  if (mounts.outcome === 'skip') return toSkipped(mounts)
  const { takeOver } = analysis.plan
  return {
    outcome: 'injected',
    role: analysis.plan.role,
    patch: buildPatch(view, analysis.plan, mounts, settings),
    warnings: [...(takeOver === undefined ? [] : [formatTakeOverWarning(takeOver)]), ...staticEnvoyWarnings(view)],
    replaced: takeOver?.replaced ?? [],
  }
}

/** Says what was replaced and what may be cleaned up; the second pass (already injected) is silent. */
export function formatTakeOverWarning(takeOver: TakeOver): string {
  const { replaced, secretNames } = takeOver
  const these = replaced.length > 1 ? 'these Secrets' : 'this Secret'
  // certgen's Secrets have no other owner than its Job; anyone else's may be re-created by what made them.
  const cleanup = replaced.every((name) => certgenSuffix(name) !== undefined)
    ? `certgen's Job and ${these} may be deleted`
    : `${these} are no longer read (remove whatever writes ${replaced.length > 1 ? 'them' : 'it'}, such as a cert-manager Certificate, before deleting ${replaced.length > 1 ? 'them' : 'it'})`
  return (
    `contour-tls-injection: took over TLS from Secret${replaced.length > 1 ? 's' : ''} ${replaced.join(', ')}: Contour and Envoy now read the set in ` +
    `${secretNames.contour}, ${secretNames.envoy}, ${secretNames.ca} (made and renewed by bootstrap-tls); once every Contour and ` +
    `Envoy pod is injected, ${cleanup}`
  )
}

/**
 * `contour bootstrap` without `--resources-dir` inlines the certificate paths in Envoy's bootstrap:
 * Envoy reads them once, at start, and no rotation can reach it until it restarts. Said once, on
 * the pod that has it, so whoever reads the warning knows to restart Envoy in a rotation.
 */
export function staticEnvoyWarnings(view: PodView): string[] {
  const all = [...(view.initContainers ?? []), ...view.containers]
  const bootstrap = all.find((c) => c.argv !== undefined && classifyArgv(c.argv) === ArgvKinds.contourBootstrap)
  if (bootstrap?.argv === undefined) return []
  if (bootstrap.argv.some((a) => a === '--resources-dir' || a.startsWith('--resources-dir='))) return []
  return [
    `contour-tls-injection: ${bootstrap.name ?? 'contour bootstrap'} runs without --resources-dir, so Envoy reads its certificates only when it starts: ` +
      'a certificate rotation reaches it only through a restart (restart Envoy between the rotation\'s add-trust and switch steps, see `contour-tls-injector status`), ' +
      'or add --resources-dir (Contour v1.5 and later) and Envoy reloads them as they change',
  ]
}

export function formatSkipWarning(reason: string, detail: string | undefined): string {
  return `contour-tls-injection: not injected (${reason})${detail === undefined ? '' : `: ${detail}`}`
}

function toSkipped(skip: Skip): InjectionResult {
  const warnings = WARNED_SKIP_REASONS.has(skip.reason) ? [formatSkipWarning(skip.reason, skip.detail)] : []
  return { outcome: 'skipped', reason: skip.reason, patch: [], warnings }
}
