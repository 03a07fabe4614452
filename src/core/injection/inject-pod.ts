// The injection engine's entry point: a pod (as untrusted JSON) and settings in, a decision and
// a JSON patch out. Pure: the webhook adapts it to AdmissionReview, tests call it directly.
import { analyzePod } from './analyze-pod.ts'
import type { Skip } from './analyze-pod.ts'
import { buildPatch } from './build-patch.ts'
import { planMounts } from './plan-mounts.ts'
import { readPod } from './read-pod.ts'
import { DEFAULT_MOUNT_ROOT, DEFAULT_SECRET_NAMES, SkipReasons, WARNED_SKIP_REASONS } from './types.ts'
import type { InjectionResult, InjectionSettings } from './types.ts'

export function defaultInjectionSettings(version: string, image: string): InjectionSettings {
  return Object.freeze({
    image,
    imagePullPolicy: 'IfNotPresent',
    secretNames: DEFAULT_SECRET_NAMES,
    mountRoot: DEFAULT_MOUNT_ROOT,
    version,
  })
}

/** Never throws: anything that is not a pod it can patch is skipped as `not-a-pod`. */
export function injectPod(pod: unknown, settings: InjectionSettings): InjectionResult {
  const view = readPod(pod)
  if (view === undefined) return toSkipped({ outcome: 'skip', reason: SkipReasons.notAPod })
  const analysis = analyzePod(view)
  if (analysis.outcome === 'skip') return toSkipped(analysis)
  const mounts = planMounts(view, analysis.plan, settings)
  if (mounts.outcome === 'skip') return toSkipped(mounts)
  return {
    outcome: 'injected',
    role: analysis.plan.role,
    patch: buildPatch(view, analysis.plan, mounts, settings),
    warnings: [],
  }
}

export function formatSkipWarning(reason: string, detail: string | undefined): string {
  return `contour-tls-injection: not injected (${reason})${detail === undefined ? '' : `: ${detail}`}`
}

function toSkipped(skip: Skip): InjectionResult {
  const warnings = WARNED_SKIP_REASONS.has(skip.reason) ? [formatSkipWarning(skip.reason, skip.detail)] : []
  return { outcome: 'skipped', reason: skip.reason, patch: [], warnings }
}
