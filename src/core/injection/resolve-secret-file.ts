// Which Secret, and which key of it, a file path inside a container comes from: the container's
// deepest mount that holds the path, the pod volume behind it, and the volume's `items`. Only
// plain Secret volumes count; a file on a hostPath, an emptyDir, a CSI or projected volume, or
// on the image itself is something the injector cannot see and never takes over.
import { posix } from 'node:path'
import { normalizeMountPath } from './tls-volumes.ts'
import { isRecord } from './read-pod.ts'
import type { ContainerView } from './read-pod.ts'

export interface SecretVolume {
  /** Index in `spec.volumes`. */
  readonly index: number
  readonly name: string
  readonly secretName: string
  readonly items: readonly { readonly key: string; readonly path: string }[] | undefined
  readonly optional: boolean
}

export interface SecretFile {
  readonly volume: SecretVolume
  /** The Secret key the file shows. */
  readonly key: string
  /** The file's path inside the volume (the `path` of its item, or the key). */
  readonly path: string
}

/** The pod's volumes by name, Secret volumes read; other kinds are null (present, not a Secret). */
export function readSecretVolumes(volumes: readonly unknown[] | undefined): ReadonlyMap<string, SecretVolume | null> {
  const byName = new Map<string, SecretVolume | null>()
  for (const [index, volume] of (volumes ?? []).entries()) {
    if (!isRecord(volume) || typeof volume.name !== 'string' || byName.has(volume.name)) continue
    byName.set(volume.name, readSecretVolume(volume, index))
  }
  return byName
}

function readSecretVolume(volume: Readonly<Record<string, unknown>>, index: number): SecretVolume | null {
  const secret = volume.secret
  if (!isRecord(secret) || typeof secret.secretName !== 'string' || secret.secretName === '') return null
  // Exactly one volume source: anything else the apiserver refuses anyway.
  const sources = Object.keys(volume).filter((key) => key !== 'name')
  if (sources.length !== 1) return null
  let items: { key: string; path: string }[] | undefined
  if (secret.items !== undefined && secret.items !== null) {
    if (!Array.isArray(secret.items)) return null
    items = []
    for (const item of secret.items as readonly unknown[]) {
      if (!isRecord(item) || typeof item.key !== 'string' || typeof item.path !== 'string') return null
      items.push({ key: item.key, path: item.path })
    }
  }
  return { index, name: volume.name as string, secretName: secret.secretName, items, optional: secret.optional === true }
}

/** The Secret file behind `path` in `container`, or undefined when no Secret volume holds it. */
export function resolveSecretFile(
  container: ContainerView,
  path: string,
  volumes: ReadonlyMap<string, SecretVolume | null>,
): SecretFile | undefined {
  if (!path.startsWith('/')) return undefined
  // What the kernel resolves: `//`, `/./` and `/../` (no symlinks inside Secret volumes but `..data`).
  const file = normalizeMountPath(posix.normalize(path))
  let best: { mountPath: string; name: string; subPath: string } | undefined
  for (const mount of container.volumeMounts ?? []) {
    if (!isRecord(mount) || typeof mount.mountPath !== 'string' || typeof mount.name !== 'string') continue
    const mountPath = normalizeMountPath(mount.mountPath)
    const holds = file === mountPath || file.startsWith(mountPath === '/' ? '/' : `${mountPath}/`)
    if (!holds || (best !== undefined && best.mountPath.length >= mountPath.length)) continue
    const subPath = typeof mount.subPath === 'string' ? mount.subPath : ''
    // subPathExpr depends on the pod's env at run time: not knowable here.
    if (mount.subPathExpr !== undefined && mount.subPathExpr !== '') return undefined
    best = { mountPath, name: mount.name, subPath }
  }
  if (best === undefined) return undefined
  const volume = volumes.get(best.name)
  if (volume === undefined || volume === null) return undefined
  const below = file === best.mountPath ? '' : file.slice(best.mountPath === '/' ? 1 : best.mountPath.length + 1)
  const inVolume = [best.subPath, below].filter((part) => part !== '').join('/')
  if (inVolume === '' || inVolume.split('/').some((part) => part === '..' || part === '.')) return undefined
  if (volume.items === undefined) {
    // Without items every key is a file at the volume's top; keys hold no `/`.
    return inVolume.includes('/') ? undefined : { volume, key: inVolume, path: inVolume }
  }
  const item = volume.items.find((candidate) => normalizeMountPath(candidate.path) === inVolume)
  return item === undefined ? undefined : { volume, key: item.key, path: inVolume }
}
