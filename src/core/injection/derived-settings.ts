// Everything injection derives from its settings and the instance alone: the TLS flags, the
// volumes, the mounts, the init container and the status annotation. Built once per settings
// object and instance suffix (certgen's, carried over to the set's names) and deep-frozen, so
// every admission shares the same objects instead of rebuilding them, and the patch encoder
// serializes each of them once (markImmutable in encode-patch.ts). Settings are treated as
// immutable, as their readonly type says: the webhook freezes its own.
import type { V1Container, V1Volume, V1VolumeMount } from '@kubernetes/client-node'
import { buildInitContainer } from './build-init-container.ts'
import { instanceSecretNames } from './certgen-secrets.ts'
import { markImmutable } from './encode-patch.ts'
import { buildMount, buildVolume, resolveTlsPaths, selectVolumes } from './tls-volumes.ts'
import type { TlsVolume } from './tls-volumes.ts'
import { buildTlsFlags } from './tls-flags.ts'
import type { TlsCommand, TlsFile } from './tls-flags.ts'
import type { InjectionSettings, PodRole, SecretNames } from './types.ts'

export interface DerivedSettings {
  /** The set's Secret names for this instance. */
  readonly secretNames: SecretNames
  /** Our file for each TLS setting of each command. */
  readonly files: Readonly<Record<TlsCommand, Readonly<Record<TlsFile, string>>>>
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

const derived = new WeakMap<InjectionSettings, Map<string, DerivedSettings>>()

// Suffixes come from pods: a bounded cache, so a flood of invented instances cannot grow it.
const MAX_INSTANCES = 64

export function deriveSettings(settings: InjectionSettings, suffix = ''): DerivedSettings {
  let instances = derived.get(settings)
  const known = instances?.get(suffix)
  if (known !== undefined) return known
  const built = deepFreeze(buildDerived(settings, instanceSecretNames(settings.secretNames, suffix)))
  for (const value of [...Object.values(built.volumes), ...Object.values(built.mounts)]) markImmutable(value)
  for (const role of ROLES) markImmutable(built.roles[role].initContainer)
  if (instances === undefined) derived.set(settings, (instances = new Map()))
  if (instances.size < MAX_INSTANCES) instances.set(suffix, built)
  return built
}

/** `injected; role=<role>[; replaced=<secret>,...]; version=<v>` */
export function formatStatus(role: PodRole, version: string, replaced: readonly string[] = []): string {
  return replaced.length === 0 ? `injected; role=${role}; version=${version}` : `injected; role=${role}; replaced=${replaced.join(',')}; version=${version}`
}

function buildDerived(settings: InjectionSettings, secretNames: SecretNames): DerivedSettings {
  const paths = resolveTlsPaths(settings.mountRoot)
  const all: readonly TlsVolume[] = ['contour', 'envoy', 'ca']
  const volumes = Object.fromEntries(all.map((which) => [which, buildVolume(which, secretNames)])) as Record<TlsVolume, V1Volume>
  const mounts = Object.fromEntries(all.map((which) => [which, buildMount(which, paths)])) as Record<TlsVolume, V1VolumeMount>
  const roles = Object.fromEntries(
    ROLES.map((role) => {
      const needed = selectVolumes(role)
      const initContainer = buildInitContainer(role, needed.map((which) => mounts[which]), settings, secretNames)
      return [role, { volumes: needed, initContainer, status: formatStatus(role, settings.version) }]
    }),
  ) as Record<PodRole, RoleParts>
  const files = {
    serve: { ca: `${paths.ca}/ca.crt`, cert: `${paths.contour}/tls.crt`, key: `${paths.contour}/tls.key` },
    bootstrap: { ca: `${paths.ca}/ca.crt`, cert: `${paths.envoy}/tls.crt`, key: `${paths.envoy}/tls.key` },
  }
  return {
    secretNames,
    files,
    flags: {
      serve: buildTlsFlags('serve', files.serve),
      bootstrap: buildTlsFlags('bootstrap', files.bootstrap),
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
