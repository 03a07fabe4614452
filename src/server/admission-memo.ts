// Admission outcomes of pods seen recently. The replicas of a Deployment or DaemonSet carry the
// same containers, volumes and annotations, so every pod after the first of a rollout skips the
// engine and the patch encoding, which cost more than the rest of the request on a busy webhook.
//
// An entry is found by comparing, value by value, exactly what the engine reads of a pod (its
// engine inputs, below) with a copy of the inputs the outcome was computed from. A hit is
// therefore the engine's own answer for identical input, never a guess. A test records every
// property the engine reads and holds them to this projection.
import { isRecord } from '../core/injection/read-pod.ts'
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
 * What injectPod reads of a pod: `kind`; `metadata` (whether it is an object, and its
 * `annotations`); `spec` (whether it is an object, and its `volumes`, `initContainers` and
 * `containers`); and of each container only `name`, `command`, `args`, `env` and
 * `volumeMounts` (images, probes and resources never matter). Values are JSON (the webhook's
 * parsed reviews); absent reads as undefined.
 */
export interface EngineInputs {
  readonly kind: unknown
  /** true when metadata is an object, else the value itself. */
  readonly metadata: unknown
  readonly annotations: unknown
  /** true when spec is an object, else the value itself. */
  readonly spec: unknown
  readonly volumes: unknown
  readonly initContainers: ContainerListInputs
  readonly containers: ContainerListInputs
}

type ContainerListInputs = { readonly list: false; readonly value: unknown } | { readonly list: true; readonly items: readonly ContainerInputs[] }
type ContainerInputs =
  | { readonly record: false; readonly value: unknown }
  | { readonly record: true; readonly name: unknown; readonly command: unknown; readonly args: unknown; readonly env: unknown; readonly volumeMounts: unknown }

/** The inputs as a deep copy, so an entry never depends on a request's objects staying as they were. */
export function engineInputs(pod: unknown): EngineInputs | undefined {
  if (!isRecord(pod)) return undefined
  const { kind, metadata, spec } = pod
  const meta = isRecord(metadata)
  const specRecord = isRecord(spec)
  return structuredClone({
    kind,
    metadata: meta ? true : metadata,
    annotations: meta ? metadata.annotations : undefined,
    spec: specRecord ? true : spec,
    volumes: specRecord ? spec.volumes : undefined,
    initContainers: containerListInputs(specRecord ? spec.initContainers : undefined),
    containers: containerListInputs(specRecord ? spec.containers : undefined),
  })
}

function containerListInputs(value: unknown): ContainerListInputs {
  if (!Array.isArray(value)) return { list: false, value }
  return {
    list: true,
    items: value.map((container: unknown): ContainerInputs => {
      if (!isRecord(container)) return { record: false, value: container }
      const { name, command, args, env, volumeMounts } = container
      return { record: true, name, command, args, env, volumeMounts }
    }),
  }
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
      entries.unshift({ inputs, outcome: freezeOutcome(outcome) })
      if (entries.length > capacity) entries.pop()
    },
    get size() {
      return entries.length
    },
  }
}

/** Compares without building the pod's projection: this runs for every entry on every lookup. */
function matches(inputs: EngineInputs, pod: Readonly<Record<string, unknown>>): boolean {
  if (!sameJson(inputs.kind, pod.kind)) return false
  const { metadata, spec } = pod
  if (isRecord(metadata)) {
    if (inputs.metadata !== true || !sameJson(inputs.annotations, metadata.annotations)) return false
  } else if (!sameJson(inputs.metadata, metadata)) return false
  if (!isRecord(spec)) return sameJson(inputs.spec, spec)
  return (
    inputs.spec === true &&
    sameContainers(inputs.containers, spec.containers) &&
    sameContainers(inputs.initContainers, spec.initContainers) &&
    sameJson(inputs.volumes, spec.volumes)
  )
}

function sameContainers(inputs: ContainerListInputs, value: unknown): boolean {
  if (!inputs.list) return sameJson(inputs.value, value)
  if (!Array.isArray(value) || value.length !== inputs.items.length) return false
  for (let i = 0; i < value.length; i++) {
    const stored = inputs.items[i] as ContainerInputs
    const container: unknown = value[i]
    if (!stored.record) {
      if (!sameJson(stored.value, container)) return false
      continue
    }
    if (!isRecord(container)) return false
    // The argv first: it tells templates apart soonest.
    if (!sameJson(stored.args, container.args) || !sameJson(stored.command, container.command) || !sameJson(stored.name, container.name)) return false
    if (!sameJson(stored.env, container.env) || !sameJson(stored.volumeMounts, container.volumeMounts)) return false
  }
  return true
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
