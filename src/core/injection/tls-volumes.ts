// The injected Secret volumes and their mounts, and the paths they are mounted at: the piece
// the derived settings, the init container and the mount planner all build on, so none of
// them needs another.
import type { V1Volume, V1VolumeMount } from '@kubernetes/client-node'
import { VOLUME_NAMES } from './types.ts'
import type { PodRole, SecretNames } from './types.ts'

export type TlsVolume = keyof typeof VOLUME_NAMES

export type TlsPaths = Readonly<Record<TlsVolume, string>>

/** `<root>/contour`, `<root>/envoy`, `<root>/ca`, with the root's trailing slashes dropped. */
export function resolveTlsPaths(mountRoot: string): TlsPaths {
  const root = normalizeMountPath(mountRoot).replace(/\/$/, '')
  return { contour: `${root}/contour`, envoy: `${root}/envoy`, ca: `${root}/ca` }
}

export function normalizeMountPath(path: string): string {
  // Fast path: almost every real mount path is already normal.
  if (!path.includes('//') && (path.length === 1 || !path.endsWith('/'))) return path
  const collapsed = path.replace(/\/+/g, '/')
  return collapsed.length > 1 ? collapsed.replace(/\/$/, '') : collapsed
}

/** Volumes each role needs, leaf first: the order of volumes in the patched pod. */
export function selectVolumes(role: PodRole): readonly TlsVolume[] {
  if (role === 'contour') return ['contour', 'ca']
  if (role === 'envoy') return ['envoy', 'ca']
  return ['contour', 'envoy', 'ca']
}

export function buildVolume(which: TlsVolume, secretNames: SecretNames): V1Volume {
  // optional: the Secret may not exist yet; bootstrap-tls creates it and waits for the files.
  return { name: VOLUME_NAMES[which], secret: { secretName: secretNames[which], optional: true } }
}

export function buildMount(which: TlsVolume, paths: TlsPaths): V1VolumeMount {
  // Never subPath: subPath mounts are not updated when the Secret is renewed.
  return { name: VOLUME_NAMES[which], mountPath: paths[which], readOnly: true }
}
