// Admission outcomes of pods seen recently. The replicas of a Deployment or DaemonSet carry the
// same containers, volumes and annotations, so every pod after the first of a rollout skips the
// engine and the patch encoding, which cost more than the rest of the request on a busy webhook.
//
// An entry is found by comparing, value by value, exactly what the engine reads of a pod (its
// engine inputs, below) with a copy of the inputs the outcome was computed from. A hit is
// therefore the engine's own answer for identical input, never a guess. A test records every
// property the engine reads and holds them to this projection.
import type { InjectionSettings } from '../core/injection/types.ts'
import type { Decision } from './review.ts'

/** What admitting one pod CREATE decided: the decision, the base64 patch, the warnings. */
export interface PodOutcome {
  readonly decision: Decision
  readonly patch?: string
  readonly warnings?: readonly string[]
}

export interface AdmissionMemo {
  /** The settings every remembered outcome was computed with. */
  readonly settings: InjectionSettings
  /** The outcome remembered for a pod with these engine inputs, if any. */
  lookup(pod: unknown): PodOutcome | undefined
  remember(pod: unknown, outcome: PodOutcome): void
  readonly size: number
}

/** A rollout or two at a time; a lookup compares entries in turn, most recent first. */
export const DEFAULT_MEMO_CAPACITY = 16

/**
 * What injectPod reads of a pod: `kind`, `metadata` (whether it is an object, and its
 * `annotations`) and `spec` (whether it is an object, and its `initContainers`, `containers`
 * and `volumes`). Values are JSON (the webhook's parsed reviews); absent reads as undefined.
 */
export type EngineInputs = readonly [kind: unknown, metadata: unknown, annotations: unknown, spec: unknown, initContainers: unknown, containers: unknown, volumes: unknown]

export function engineInputs(pod: unknown): EngineInputs | undefined {
  if (!isRecord(pod)) return undefined
  const { kind, metadata, spec } = pod
  const meta = isRecord(metadata)
  const specRecord = isRecord(spec)
  return [
    kind,
    meta ? true : metadata,
    meta ? metadata.annotations : undefined,
    specRecord ? true : spec,
    specRecord ? spec.initContainers : undefined,
    specRecord ? spec.containers : undefined,
    specRecord ? spec.volumes : undefined,
  ]
}

interface Entry {
  readonly inputs: EngineInputs
  readonly outcome: PodOutcome
}

export function createAdmissionMemo(settings: InjectionSettings, capacity = DEFAULT_MEMO_CAPACITY): AdmissionMemo {
  const entries: Entry[] = []
  return {
    settings,
    lookup(pod) {
      if (!isRecord(pod)) return undefined
      for (let i = 0; i < entries.length; i++) {
        const entry = entries[i] as Entry
        if (!matches(entry.inputs, pod)) continue
        if (i > 0) {
          entries.splice(i, 1)
          entries.unshift(entry)
        }
        return entry.outcome
      }
      return undefined
    },
    remember(pod, outcome) {
      const inputs = engineInputs(pod)
      if (inputs === undefined) return
      // A copy: the memo never depends on a request's objects staying as they were.
      entries.unshift({ inputs: structuredClone(inputs), outcome: freezeOutcome(outcome) })
      if (entries.length > capacity) entries.pop()
    },
    get size() {
      return entries.length
    },
  }
}

/** Compares without building the pod's projection: this runs for every entry on every lookup. */
function matches(inputs: EngineInputs, pod: Readonly<Record<string, unknown>>): boolean {
  if (!sameJson(inputs[0], pod.kind)) return false
  const { metadata, spec } = pod
  if (isRecord(metadata)) {
    if (inputs[1] !== true || !sameJson(inputs[2], metadata.annotations)) return false
  } else if (!sameJson(inputs[1], metadata)) return false
  if (isRecord(spec)) {
    return inputs[3] === true && sameJson(inputs[4], spec.initContainers) && sameJson(inputs[5], spec.containers) && sameJson(inputs[6], spec.volumes)
  }
  return sameJson(inputs[3], spec)
}

/** Deep equality of JSON values; member order does not matter (the engine reads members by name). */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i], b[i])) return false
    return true
  }
  if (Array.isArray(b)) return false
  const left = a as Record<string, unknown>
  const right = b as Record<string, unknown>
  let count = 0
  for (const key in left) {
    if (!Object.hasOwn(left, key)) continue
    if (!Object.hasOwn(right, key) || !sameJson(left[key], right[key])) return false
    count++
  }
  for (const key in right) if (Object.hasOwn(right, key)) count--
  return count === 0
}

function freezeOutcome(outcome: PodOutcome): PodOutcome {
  if (outcome.warnings !== undefined) return Object.freeze({ ...outcome, warnings: Object.freeze([...outcome.warnings]) })
  return Object.freeze({ ...outcome })
}

function isRecord(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
