// Turns a plan into a JSON patch that touches only what injection needs: whole `args`/`command`
// arrays of the rewritten containers, appended mounts and volumes, the init container and the
// status annotation. Every other byte of the pod is left as it came.
import type { V1VolumeMount } from '@kubernetes/client-node'
import type { PodPlan } from './analyze-pod.ts'
import { deriveSettings, formatStatus } from './derived-settings.ts'
import { toPointer } from './json-pointer.ts'
import type { MountPlan } from './plan-mounts.ts'
import type { ContainerView, PodView } from './read-pod.ts'
import { pushSettingRewrites, pushVolumeEdit } from './take-over-patch.ts'
import { rewriteArgv } from './tls-flags.ts'
import type { TlsCommand } from './tls-flags.ts'
import { Annotations } from './types.ts'
import type { InjectionSettings, Operation } from './types.ts'

/**
 * Container edits come first, at the indices the pod has now: inserting the init container at
 * `/spec/initContainers/0` last keeps those indices valid when `contour bootstrap` is an init
 * container itself.
 */
export function buildPatch(view: PodView, plan: PodPlan, mounts: MountPlan, settings: InjectionSettings): Operation[] {
  const { takeOver } = plan
  const derived = deriveSettings(settings, takeOver?.suffix)
  const parts = derived.roles[plan.role]
  const patch: Operation[] = []
  if (takeOver === undefined) {
    for (const container of plan.serve) rewriteContainerArgv(patch, container, 'serve', derived.flags.serve)
    for (const container of plan.bootstrap) rewriteContainerArgv(patch, container, 'bootstrap', derived.flags.bootstrap)
  } else {
    for (const rewrite of takeOver.rewrites) pushSettingRewrites(patch, rewrite, derived.files)
  }
  for (const [container, added] of mounts.mounts) appendMounts(patch, container, added)
  for (const edit of takeOver?.volumeEdits ?? []) pushVolumeEdit(patch, edit)
  appendItems(patch, '/spec/volumes', view.volumes !== undefined, mounts.volumes)
  // Shared and frozen: the same object in every patch of this role (see derived-settings.ts).
  const init = parts.initContainer
  patch.push(
    view.initContainers === undefined
      ? { op: 'add', path: '/spec/initContainers', value: [init] }
      : { op: 'add', path: '/spec/initContainers/0', value: init },
  )
  patch.push(buildStatusOperation(view, takeOver === undefined ? parts.status : formatStatus(plan.role, settings.version, takeOver.replaced)))
  return patch
}

function rewriteContainerArgv(patch: Operation[], container: ContainerView, command: TlsCommand, flags: readonly string[]): void {
  // Only serve knows --insecure; it is refused together with the TLS flags.
  const rewritten = rewriteArgv(container.command, container.args, flags, command === 'serve')
  const base = `/spec/${container.list}/${container.index}`
  if (rewritten.commandChanged && rewritten.command !== undefined) {
    patch.push({ op: 'replace', path: `${base}/command`, value: rewritten.command })
  }
  if (rewritten.argsChanged) {
    // `add` also creates the array when the container has none.
    const op = container.args === undefined ? 'add' : 'replace'
    patch.push({ op, path: `${base}/args`, value: rewritten.args })
  }
}

function appendMounts(patch: Operation[], container: ContainerView, mounts: readonly V1VolumeMount[]): void {
  appendItems(patch, `/spec/${container.list}/${container.index}/volumeMounts`, container.volumeMounts !== undefined, mounts)
}

/** Appends with `/-` to an existing array; creates it whole when absent (or null). */
function appendItems(patch: Operation[], pointer: string, exists: boolean, items: readonly unknown[]): void {
  if (items.length === 0) return
  if (!exists) {
    patch.push({ op: 'add', path: pointer, value: [...items] })
    return
  }
  for (const value of items) patch.push({ op: 'add', path: `${pointer}/-`, value })
}

const STATUS_POINTER = toPointer(['metadata', 'annotations', Annotations.status])

/** `add` on an object member replaces it, so a stale or junk status value is overwritten too. */
function buildStatusOperation(view: PodView, status: string): Operation {
  if (!view.hasMetadata) return { op: 'add', path: '/metadata', value: { annotations: { [Annotations.status]: status } } }
  if (view.annotations === undefined) {
    return { op: 'add', path: '/metadata/annotations', value: { [Annotations.status]: status } }
  }
  return { op: 'add', path: STATUS_POINTER, value: status }
}
