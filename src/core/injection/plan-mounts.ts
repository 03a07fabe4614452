// Which Secret volumes a pod gets and which container mounts which, and whether the pod's own
// volumes and mounts leave room for them. A clash is never resolved by renaming: the user's
// names may be referenced elsewhere, so a taken name or path skips the pod with a warning.
import { isDeepStrictEqual } from 'node:util'
import type { V1Volume, V1VolumeMount } from '@kubernetes/client-node'
import type { PodPlan } from './analyze-pod.ts'
import { deriveSettings } from './derived-settings.ts'
import { isRecord } from './read-pod.ts'
import type { ContainerView, PodView } from './read-pod.ts'
import { describeContainer, skipPod } from './skip.ts'
import type { Skip } from './skip.ts'
import { normalizeMountPath } from './tls-volumes.ts'
import { SkipReasons } from './types.ts'
import type { InjectionSettings } from './types.ts'

export interface MountPlan {
  readonly outcome: 'mount'
  /** Volumes to append to the pod; an identical one already there is reused. */
  readonly volumes: readonly V1Volume[]
  /** Mounts to append per target container (by view), already-present identical ones left out. */
  readonly mounts: ReadonlyMap<ContainerView, readonly V1VolumeMount[]>
}

// The kubelet fills an omitted defaultMode with 0644; a volume read back from the apiserver
// carries it, and must still count as ours.
const DEFAULT_SECRET_MODE = 0o644

export function planMounts(view: PodView, plan: PodPlan, settings: InjectionSettings): MountPlan | Skip {
  const derived = deriveSettings(settings, plan.takeOver?.suffix)
  const volumes: V1Volume[] = []
  for (const which of derived.roles[plan.role].volumes) {
    const ours = derived.volumes[which]
    const clash = findVolumeClash(view.volumes ?? [], ours)
    if (clash === 'absent') volumes.push(ours)
    else if (clash === 'taken') {
      return skipPod(SkipReasons.volumeNameTaken, `the pod already has a volume named "${ours.name}" that is not ours`)
    }
  }

  const mounts = new Map<ContainerView, readonly V1VolumeMount[]>()
  const add = (container: ContainerView, needed: readonly V1VolumeMount[]): Skip | undefined => {
    let missing: V1VolumeMount[] | undefined
    for (const mount of needed) {
      const clash = findMountClash(container.volumeMounts ?? [], mount)
      if (clash === 'identical') {
        missing ??= needed.slice(0, needed.indexOf(mount))
        continue
      }
      if (clash !== undefined) {
        return skipPod(
          SkipReasons.mountPathTaken,
          `${describeContainer(container)} already mounts something at ${clash}, where ${mount.mountPath} is needed`,
        )
      }
      missing?.push(mount)
    }
    // The shared frozen list when nothing is mounted yet (the common case): no copy per pod.
    mounts.set(container, missing ?? needed)
    return undefined
  }
  for (const container of plan.serve) {
    const skip = add(container, derived.containerMounts.serve)
    if (skip !== undefined) return skip
  }
  for (const container of [...plan.bootstrap, ...plan.envoy]) {
    const skip = add(container, derived.containerMounts.bootstrap)
    if (skip !== undefined) return skip
  }
  return { outcome: 'mount', volumes, mounts }
}

/** 'absent' when no volume has our name, 'ours' when every one that has it is ours. */
function findVolumeClash(existing: readonly unknown[], ours: V1Volume): 'absent' | 'ours' | 'taken' {
  let found: 'absent' | 'ours' = 'absent'
  for (const volume of existing) {
    if (!isRecord(volume) || volume.name !== ours.name) continue
    if (!isSameVolume(volume, ours)) return 'taken'
    found = 'ours'
  }
  return found
}

function isSameVolume(volume: unknown, ours: V1Volume): boolean {
  if (!isRecord(volume) || !isRecord(volume.secret)) return false
  const { defaultMode, ...secret } = volume.secret
  if (defaultMode !== undefined && defaultMode !== DEFAULT_SECRET_MODE) return false
  return isDeepStrictEqual({ ...volume, secret }, ours)
}

/**
 * The path of an existing mount that takes ours: the same path, or one inside it (the runtime
 * would have to create it inside a read-only Secret volume). A mount above ours is fine:
 * nested mounts are how Kubernetes layers volumes.
 */
function findMountClash(existing: readonly unknown[], ours: V1VolumeMount): string | 'identical' | undefined {
  let identical = false
  for (const mount of existing) {
    if (!isRecord(mount) || typeof mount.mountPath !== 'string') continue
    const path = normalizeMountPath(mount.mountPath)
    if (path !== ours.mountPath && !path.startsWith(`${ours.mountPath}/`)) continue
    if (!isDeepStrictEqual(mount, ours)) return mount.mountPath
    identical = true
  }
  return identical ? 'identical' : undefined
}
