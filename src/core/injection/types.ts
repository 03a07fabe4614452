// The injection engine's contract: plain data in, plain data out. No I/O, no logger, no env.
import type { Operation } from 'fast-json-patch'

export type { Operation }

/** Names a pod analysis and patch depend on; the defaults are the design's contract. */
export interface InjectionSettings {
  /** Image of the injected `bootstrap-tls` init container (this package's own image by default). */
  readonly image: string
  readonly imagePullPolicy: 'Always' | 'IfNotPresent' | 'Never'
  /** Names of the set; a taken-over certgen instance's suffix is appended to each. */
  readonly secretNames: SecretNames
  /** Root of the three mounts: `<root>/contour`, `<root>/envoy`, `<root>/ca`. */
  readonly mountRoot: string
  /** Version string written into the status annotation (`injected; version=...`). */
  readonly version: string
  /** Which TLS that a pod already has is taken over (see ExistingTlsPolicies). */
  readonly existingTls: ExistingTlsPolicy
  /** How the Contour pod's `bootstrap-tls` runs (see BootstrapModes). */
  readonly bootstrapMode: BootstrapMode
}

export interface SecretNames {
  readonly contour: string
  readonly envoy: string
  readonly ca: string
}

/**
 * `certgen`: take over TLS read from `contour certgen`'s Secrets (`contourcert<S>`,
 * `envoycert<S>`, `cacert<S>`); `all`: from any Secret volumes; `keep`: never.
 */
export const ExistingTlsPolicies = ['certgen', 'all', 'keep'] as const
export type ExistingTlsPolicy = (typeof ExistingTlsPolicies)[number]
export const DEFAULT_EXISTING_TLS: ExistingTlsPolicy = 'certgen'

/**
 * `init`: `bootstrap-tls` is a plain init container that ensures the set and exits (renewal at pod
 * start). `sidecar`: in Contour pods it is a native sidecar (`restartPolicy: Always`, Kubernetes
 * >= 1.29) gated by a startup probe, and keeps renewing while the pod runs. Envoy pods are the
 * same in both modes. The webhook cannot see the cluster's version, so its default is `init`.
 */
export const BootstrapModes = ['init', 'sidecar'] as const
export type BootstrapMode = (typeof BootstrapModes)[number]
export const DEFAULT_BOOTSTRAP_MODE: BootstrapMode = 'init'

export const DEFAULT_SECRET_NAMES = { contour: 'contour-tls', envoy: 'envoy-tls', ca: 'contour-ca' } as const
export const DEFAULT_MOUNT_ROOT = '/etc/tls'

export const Annotations = {
  inject: 'contour-tls-injection/inject',
  status: 'contour-tls-injection/status',
  rotate: 'contour-tls-injection/rotate',
} as const

export const NAMESPACE_LABEL = { key: 'contour-tls-injection', value: 'enabled' } as const
export const INIT_CONTAINER_NAME = 'bootstrap-tls'

/** Names of the injected Secret volumes; prefixed so they cannot clash with a chart's own volumes. */
export const VOLUME_NAMES = {
  contour: 'contour-tls-injection-contour',
  envoy: 'contour-tls-injection-envoy',
  ca: 'contour-tls-injection-ca',
} as const

/** Closed set of reasons a pod gets no patch; stable names used by metrics and warnings. */
export const SkipReasons = {
  optedOut: 'opted-out',
  notContourOrEnvoy: 'not-contour-or-envoy',
  alreadyInjected: 'already-injected',
  tlsConfigured: 'tls-configured',
  partialTlsFlags: 'partial-tls-flags',
  shellWrapped: 'shell-wrapped',
  volumeNameTaken: 'volume-name-taken',
  mountPathTaken: 'mount-path-taken',
  notAPod: 'not-a-pod',
  /** A regular container already has the init container's name; adding ours would make the pod invalid. */
  containerNameTaken: 'container-name-taken',
  /** Complete TLS on Secret volumes the policy keeps, though a wider policy would take it over. */
  existingTlsKept: 'existing-tls-kept',
  /** `contour serve --contour-config-name` without a Secret volume at its configuration's TLS paths. */
  contourConfigName: 'contour-config-name',
} as const
export type SkipReason = (typeof SkipReasons)[keyof typeof SkipReasons]

/** Skip reasons that look like misconfiguration: the admission response carries a warning. */
export const WARNED_SKIP_REASONS: ReadonlySet<SkipReason> = new Set<SkipReason>([
  SkipReasons.partialTlsFlags,
  SkipReasons.shellWrapped,
  SkipReasons.volumeNameTaken,
  SkipReasons.mountPathTaken,
  SkipReasons.containerNameTaken,
  SkipReasons.existingTlsKept,
  SkipReasons.contourConfigName,
])

export type PodRole = 'contour' | 'envoy' | 'co-located'

export type InjectionResult =
  | {
      readonly outcome: 'injected'
      readonly role: PodRole
      readonly patch: Operation[]
      readonly warnings: string[]
      /** The Secrets a take-over replaced, sorted; empty for a pod that had no TLS. */
      readonly replaced: readonly string[]
    }
  | { readonly outcome: 'skipped'; readonly reason: SkipReason; readonly patch: []; readonly warnings: string[] }
