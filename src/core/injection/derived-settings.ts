// Everything injection derives from its settings alone: the TLS flags, the volumes, the mounts,
// the init container and the status annotation. Built once per settings object and deep-frozen,
// so every admission shares the same objects instead of rebuilding them, and the patch encoder
// serializes each of them once (markImmutable in encode-patch.ts). Settings are treated as
// immutable, as their readonly type says: the webhook freezes its own.
import type { V1Container, V1Volume, V1VolumeMount } from '@kubernetes/client-node'
import { buildInitContainer } from './build-init-container.ts'
import { markImmutable } from './encode-patch.ts'
import { buildMount, buildVolume, resolveTlsPaths, selectVolumes } from './plan-mounts.ts'
import type { TlsVolume } from './plan-mounts.ts'
import { buildTlsFlags } from './tls-flags.ts'
import type { TlsCommand } from './tls-flags.ts'
import type { InjectionSettings, PodRole } from './types.ts'

export interface DerivedSettings {
  readonly flags: Readonly<Record<TlsCommand, readonly string[]>>
  readonly volumes: Readonly<Record<TlsVolume, V1Volume>>
  readonly mounts: Readonly<Record<TlsVolume, V1VolumeMount>>
  /** The mounts of the TLS volumes a container of each kind needs, in patch order. */
  readonly containerMounts: Readonly<Record<TlsCommand, readonly V1VolumeMount[]>>
  readonly roles: Readonly<Record<PodRole, RoleParts>>
}

export interface RoleParts {
  /** The volumes the role's pod needs, leaf first. */
  readonly volumes: readonly TlsVolume[]
  readonly initContainer: V1Container
  /** The value of the status annotation. */
  readonly status: string
}

const ROLES: readonly PodRole[] = ['contour', 'envoy', 'co-located']

const derived = new WeakMap<InjectionSettings, DerivedSettings>()

export function deriveSettings(settings: InjectionSettings): DerivedSettings {
  const known = derived.get(settings)
  if (known !== undefined) return known
  const built = deepFreeze(buildDerived(settings))
  for (const value of [...Object.values(built.volumes), ...Object.values(built.mounts)]) markImmutable(value)
  for (const role of ROLES) markImmutable(built.roles[role].initContainer)
  derived.set(settings, built)
  return built
}

export function formatStatus(role: PodRole, version: string): string {
  return `injected; role=${role}; version=${version}`
}

function buildDerived(settings: InjectionSettings): DerivedSettings {
  const paths = resolveTlsPaths(settings.mountRoot)
  const all: readonly TlsVolume[] = ['contour', 'envoy', 'ca']
  const volumes = Object.fromEntries(all.map((which) => [which, buildVolume(which, settings)])) as Record<TlsVolume, V1Volume>
  const mounts = Object.fromEntries(all.map((which) => [which, buildMount(which, paths)])) as Record<TlsVolume, V1VolumeMount>
  const roles = Object.fromEntries(
    ROLES.map((role) => {
      const needed = selectVolumes(role)
      const initContainer = buildInitContainer(role, needed.map((which) => mounts[which]), settings)
      return [role, { volumes: needed, initContainer, status: formatStatus(role, settings.version) }]
    }),
  ) as Record<PodRole, RoleParts>
  return {
    flags: {
      serve: buildTlsFlags('serve', { ca: paths.ca, leafDir: paths.contour }),
      bootstrap: buildTlsFlags('bootstrap', { ca: paths.ca, leafDir: paths.envoy }),
    },
    volumes,
    mounts,
    containerMounts: { serve: [mounts.contour, mounts.ca], bootstrap: [mounts.envoy, mounts.ca] },
    roles,
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value
  for (const member of Object.values(value)) deepFreeze(member)
  return Object.freeze(value)
}
