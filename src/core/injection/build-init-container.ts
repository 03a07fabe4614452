// The injected `bootstrap-tls` init container. It runs before every other init container, so
// `contour bootstrap` (which since Contour 1.5 fails on missing files) finds the certificates.
import type { V1Container, V1Probe, V1VolumeMount } from '@kubernetes/client-node'
import { normalizeMountPath } from './tls-volumes.ts'
import { Annotations, DEFAULT_MOUNT_ROOT, DEFAULT_SECRET_NAMES, INIT_CONTAINER_NAME } from './types.ts'
import type { InjectionSettings, PodRole, SecretNames } from './types.ts'

/** The injector's own subcommand; the image's entrypoint is the `contour-tls-injector` binary. */
const SUBCOMMAND = 'bootstrap-tls'

/**
 * The image's ENTRYPOINT (Dockerfile), spelled out: an exec probe does not go through the
 * entrypoint, and the image has neither a shell nor a `contour-tls-injector` on PATH.
 * test/core/injection/sidecar.test.ts checks that the two agree.
 */
export const IMAGE_ENTRYPOINT: readonly string[] = ['/usr/local/bin/node', '--max-semi-space-size=2', '/app/dist/cli.js']

/**
 * The startup probe gives up when bootstrap-tls's own default --wait-timeout (300 s) does: 150
 * failures 2 s apart. Each probe is a Node start (about 0.1 s idle, a few times that on a busy
 * node), hence the 10 s timeout.
 */
/**
 * The sidecar serves the certificate lifecycle metrics here (`GET /metrics`): a port none of
 * Contour's (8000 metrics, 8001 xDS, 6060 debug) or a co-located Envoy's (8002, 9001, 8080, 8443) uses.
 */
export const SIDECAR_METRICS_PORT = 8009

export const STARTUP_PROBE_TIMING = { periodSeconds: 2, failureThreshold: 150, timeoutSeconds: 10 } as const

export function buildInitContainer(
  role: PodRole,
  mounts: readonly V1VolumeMount[],
  settings: InjectionSettings,
  secretNames: SecretNames = settings.secretNames,
): V1Container {
  const sidecar = settings.bootstrapMode === 'sidecar' && role !== 'envoy'
  const args = buildInitArgs(role, settings, secretNames)
  return {
    name: INIT_CONTAINER_NAME,
    image: settings.image,
    imagePullPolicy: settings.imagePullPolicy,
    args: sidecar ? [...args, '--sidecar', `--metrics-port=${SIDECAR_METRICS_PORT}`] : args,
    // A native sidecar: started before the next containers, which wait for its startup probe,
    // then kept running (and restarted by the kubelet) for the pod's lifetime.
    ...(sidecar
      ? { restartPolicy: 'Always', startupProbe: buildStartupProbe(role, settings), ports: [{ name: 'cti-metrics', containerPort: SIDECAR_METRICS_PORT, protocol: 'TCP' }] }
      : {}),
    env: [
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      // Empty when the annotation is absent: "no rotation requested".
      { name: 'CONTOUR_TLS_ROTATE', valueFrom: { fieldRef: { fieldPath: `metadata.annotations['${Annotations.rotate}']` } } },
    ],
    // Generating an RSA 2048 set is a short burst of CPU; waiting for the kubelet costs nothing.
    // A sidecar's startup probe is a second Node process in the same cgroup (about 55 MB while it
    // runs), possibly beside the first start's key generation (about 65 MB): more room, same request.
    resources: { requests: { cpu: '10m', memory: '64Mi' }, limits: { cpu: '500m', memory: sidecar ? '192Mi' : '128Mi' } },
    // Passes Pod Security "restricted" even in a pod that sets no securityContext of its own.
    securityContext: {
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      runAsUser: 65534,
      runAsGroup: 65534,
      seccompProfile: { type: 'RuntimeDefault' },
    },
    // A timeout's message then shows in `kubectl describe pod` without digging for logs.
    terminationMessagePolicy: 'FallbackToLogsOnError',
    volumeMounts: [...mounts],
  }
}

/** `bootstrap-tls --probe`: the mounted files hold a valid set. No API call, no waiting. */
function buildStartupProbe(role: PodRole, settings: InjectionSettings): V1Probe {
  const command = [...IMAGE_ENTRYPOINT, SUBCOMMAND, '--probe']
  const root = normalizeMountPath(settings.mountRoot)
  if (root !== DEFAULT_MOUNT_ROOT) command.push(`--tls-dir=${root}`)
  if (role === 'co-located') command.push('--colocated')
  return { exec: { command }, ...STARTUP_PROBE_TIMING }
}

/**
 * A co-located pod runs one `--role=contour` that checks every mount. Flags that only restate a
 * default are left out, so the common injected pod reads like the design's examples.
 */
export function buildInitArgs(role: PodRole, settings: InjectionSettings, secretNames: SecretNames = settings.secretNames): string[] {
  const args = [SUBCOMMAND, `--role=${role === 'envoy' ? 'envoy' : 'contour'}`]
  const root = normalizeMountPath(settings.mountRoot)
  if (root !== DEFAULT_MOUNT_ROOT) args.push(`--tls-dir=${root}`)
  const { contour, envoy, ca } = secretNames
  if (contour !== DEFAULT_SECRET_NAMES.contour) args.push(`--contour-secret=${contour}`)
  if (envoy !== DEFAULT_SECRET_NAMES.envoy) args.push(`--envoy-secret=${envoy}`)
  if (ca !== DEFAULT_SECRET_NAMES.ca) args.push(`--ca-secret=${ca}`)
  return args
}
