// Turns a plan into a JSON patch that touches only what injection needs: whole `args`/`command`
// arrays of the rewritten containers, appended mounts and volumes, the init container and the
// status annotation. Every other byte of the pod is left as it came.
import type { V1Container, V1VolumeMount } from '@kubernetes/client-node'
import type { PodPlan } from './analyze-pod.ts'
import { buildInitContainer } from './build-init-container.ts'
import { toPointer } from './json-pointer.ts'
import type { MountPlan, TlsPaths } from './plan-mounts.ts'
import { resolveTlsPaths } from './plan-mounts.ts'
import type { ContainerView, PodView } from './read-pod.ts'
import { buildTlsFlags, rewriteArgv } from './tls-flags.ts'
import { Annotations } from './types.ts'
import type { InjectionSettings, Operation, PodRole } from './types.ts'

export function formatStatus(role: PodRole, version: string): string {
  return `injected; role=${role}; version=${version}`
}

/**
 * Container edits come first, at the indices the pod has now: inserting the init container at
 * `/spec/initContainers/0` last keeps those indices valid when `contour bootstrap` is an init
 * container itself.
 */
export function buildPatch(view: PodView, plan: PodPlan, mounts: MountPlan, settings: InjectionSettings): Operation[] {
  const paths = resolveTlsPaths(settings.mountRoot)
  const patch: Operation[] = []
  for (const container of plan.serve) patch.push(...rewriteContainerArgv(container, 'serve', paths))
  for (const container of plan.bootstrap) patch.push(...rewriteContainerArgv(container, 'bootstrap', paths))
  for (const [container, added] of mounts.mounts) patch.push(...appendMounts(container, added))
  patch.push(...appendItems(['spec', 'volumes'], view.volumes !== undefined, mounts.volumes))
  const init: V1Container = buildInitContainer(plan.role, mounts.initMounts, settings)
  patch.push(
    view.initContainers === undefined
      ? { op: 'add', path: '/spec/initContainers', value: [init] }
      : { op: 'add', path: '/spec/initContainers/0', value: init },
  )
  patch.push(buildStatusOperation(view, formatStatus(plan.role, settings.version)))
  return patch
}

function rewriteContainerArgv(container: ContainerView, command: 'serve' | 'bootstrap', paths: TlsPaths): Operation[] {
  const leafDir = command === 'serve' ? paths.contour : paths.envoy
  const flags = buildTlsFlags(command, { ca: paths.ca, leafDir })
  // Only serve knows --insecure; it is refused together with the TLS flags.
  const rewritten = rewriteArgv(container.command, container.args, flags, command === 'serve')
  const base = ['spec', container.list, container.index]
  const patch: Operation[] = []
  if (rewritten.commandChanged && rewritten.command !== undefined) {
    patch.push({ op: 'replace', path: toPointer([...base, 'command']), value: rewritten.command })
  }
  if (rewritten.argsChanged) {
    // `add` also creates the array when the container has none.
    const op = container.args === undefined ? 'add' : 'replace'
    patch.push({ op, path: toPointer([...base, 'args']), value: rewritten.args })
  }
  return patch
}

function appendMounts(container: ContainerView, mounts: readonly V1VolumeMount[]): Operation[] {
  return appendItems(['spec', container.list, container.index, 'volumeMounts'], container.volumeMounts !== undefined, mounts)
}

/** Appends with `/-` to an existing array; creates it whole when absent (or null). */
function appendItems(path: readonly (string | number)[], exists: boolean, items: readonly unknown[]): Operation[] {
  if (items.length === 0) return []
  if (!exists) return [{ op: 'add', path: toPointer(path), value: [...items] }]
  return items.map((value) => ({ op: 'add', path: toPointer([...path, '-']), value }))
}

/** `add` on an object member replaces it, so a stale or junk status value is overwritten too. */
function buildStatusOperation(view: PodView, status: string): Operation {
  if (!view.hasMetadata) return { op: 'add', path: '/metadata', value: { annotations: { [Annotations.status]: status } } }
  if (view.annotations === undefined) {
    return { op: 'add', path: '/metadata/annotations', value: { [Annotations.status]: status } }
  }
  return { op: 'add', path: toPointer(['metadata', 'annotations', Annotations.status]), value: status }
}
