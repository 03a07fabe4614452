// Reads an untrusted value as a pod, without throwing and without copying it: the engine must
// answer every admission request, and the patch must address the fields exactly as they are.

export type ContainerList = 'containers' | 'initContainers'

export interface ContainerView {
  readonly list: ContainerList
  readonly index: number
  readonly name: string | undefined
  readonly command: readonly string[] | undefined
  readonly args: readonly string[] | undefined
  /** command ++ args; undefined when either holds something other than strings. */
  readonly argv: readonly string[] | undefined
  /** The container's `env` as it came; readEnvNames reads it for the containers that need it. */
  readonly env: unknown
  readonly volumeMounts: readonly unknown[] | undefined
}

export interface PodView {
  readonly hasMetadata: boolean
  readonly annotations: Readonly<Record<string, unknown>> | undefined
  readonly containers: readonly ContainerView[]
  readonly initContainers: readonly ContainerView[] | undefined
  readonly volumes: readonly unknown[] | undefined
}

export function isRecord(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/**
 * Null counts as absent: JSON-patch `add` replaces a null member, so it patches like a missing
 * one. Returns undefined for anything that is not shaped like a pod where the patch must write.
 */
export function readPod(pod: unknown): PodView | undefined {
  if (!isRecord(pod)) return undefined
  if (pod.kind !== undefined && pod.kind !== null && pod.kind !== 'Pod') return undefined
  const metadata = pod.metadata ?? undefined
  if (metadata !== undefined && !isRecord(metadata)) return undefined
  const annotations = metadata?.annotations ?? undefined
  if (annotations !== undefined && !isRecord(annotations)) return undefined
  const spec = pod.spec
  if (!isRecord(spec)) return undefined
  const volumes = readOptionalArray(spec.volumes)
  const containers = readContainers(spec.containers, 'containers')
  if (volumes === null || containers === undefined) return undefined
  const hasInitContainers = spec.initContainers !== undefined && spec.initContainers !== null
  const initContainers = hasInitContainers ? readContainers(spec.initContainers, 'initContainers') : undefined
  if (hasInitContainers && initContainers === undefined) return undefined
  return { hasMetadata: metadata !== undefined, annotations, containers, initContainers, volumes }
}

/** undefined when absent, null when present but not an array. */
function readOptionalArray(value: unknown): readonly unknown[] | undefined | null {
  if (value === undefined || value === null) return undefined
  return Array.isArray(value) ? value : null
}

function readContainers(value: unknown, list: ContainerList): ContainerView[] | undefined {
  if (!Array.isArray(value)) return undefined
  const views: ContainerView[] = []
  for (let index = 0; index < value.length; index++) {
    const view = readContainer(value[index], list, index)
    if (view === undefined) return undefined
    views.push(view)
  }
  return views
}

function readContainer(container: unknown, list: ContainerList, index: number): ContainerView | undefined {
  if (!isRecord(container)) return undefined
  const volumeMounts = readOptionalArray(container.volumeMounts)
  if (volumeMounts === null) return undefined
  const command = readStrings(container.command)
  const args = readStrings(container.args)
  // Most containers have one side only: share it instead of copying.
  const argv = command === null || args === null ? undefined : args === undefined ? (command ?? []) : command === undefined ? args : [...command, ...args]
  return {
    list,
    index,
    name: typeof container.name === 'string' ? container.name : undefined,
    command: command ?? undefined,
    args: args ?? undefined,
    argv,
    env: container.env,
    volumeMounts,
  }
}

/** undefined when absent, null when not a list of strings (such a container is left alone). */
function readStrings(value: unknown): readonly string[] | undefined | null {
  if (value === undefined || value === null) return undefined
  if (!Array.isArray(value)) return null
  for (const item of value) if (typeof item !== 'string') return null
  return value as readonly string[]
}

/** Env vars with a value (a literal or a source); an empty literal counts as unset. */
export function readEnvNames(env: unknown): ReadonlySet<string> {
  const names = new Set<string>()
  if (!Array.isArray(env)) return names
  for (const entry of env) {
    if (!isRecord(entry) || typeof entry.name !== 'string') continue
    const hasValue = (typeof entry.value === 'string' && entry.value !== '') || isRecord(entry.valueFrom)
    if (hasValue) names.add(entry.name)
  }
  return names
}
