// Checks a patched pod for what the design promises, independently of golden files: a golden
// file only proves the output did not change, these checks prove it is right.
import type { V1Container, V1Pod, V1Volume } from '@kubernetes/client-node'
import type { Test } from 'tap'
import { Annotations, INIT_CONTAINER_NAME, VOLUME_NAMES } from '../../../../src/core/injection/types.ts'
import type { InjectionSettings, PodRole, SecretNames } from '../../../../src/core/injection/types.ts'
import { classifyContainer, listContainers, readArgv } from './upstream-variants.ts'
import type { ContainerRole } from './upstream-variants.ts'

type TlsVolume = keyof typeof VOLUME_NAMES

const OUR_VOLUMES: ReadonlySet<string> = new Set(Object.values(VOLUME_NAMES))
const OUR_FLAGS = ['--contour-cafile=', '--contour-cert-file=', '--contour-key-file=', '--envoy-cafile=', '--envoy-cert-file=', '--envoy-key-file=']

export function mountsFor(role: ContainerRole | 'init', podRole: PodRole): TlsVolume[] {
  if (role === 'serve') return ['contour', 'ca']
  if (role === 'bootstrap' || role === 'envoy') return ['envoy', 'ca']
  if (role === 'other') return []
  return podRole === 'contour' ? ['contour', 'ca'] : podRole === 'envoy' ? ['envoy', 'ca'] : ['contour', 'envoy', 'ca']
}

function expectedFlags(role: ContainerRole, root: string): string[] {
  if (role === 'serve') {
    return [`--contour-cafile=${root}/ca/ca.crt`, `--contour-cert-file=${root}/contour/tls.crt`, `--contour-key-file=${root}/contour/tls.key`]
  }
  if (role === 'bootstrap') {
    return [`--envoy-cafile=${root}/ca/ca.crt`, `--envoy-cert-file=${root}/envoy/tls.crt`, `--envoy-key-file=${root}/envoy/tls.key`]
  }
  return []
}

export function checkInjectedPod(t: Test, input: V1Pod, output: V1Pod, role: PodRole, settings: InjectionSettings): void {
  const root = settings.mountRoot.replace(/\/+$/, '')
  checkInitContainer(t, output, role, settings, settings.secretNames)
  checkVolumes(t, output.spec?.volumes ?? [], mountsFor('init', role), settings)
  const inputContainers = listContainers(input)
  const outputContainers = listContainers(output).slice(1)
  t.equal(outputContainers.length, inputContainers.length, 'one container added')
  for (const [index, before] of inputContainers.entries()) {
    const after = outputContainers[index]
    const containerRole = classifyContainer(before)
    if (after === undefined) continue
    if (containerRole === 'other') {
      t.same(after, before, `container "${before.name}" is untouched`)
      continue
    }
    checkMounts(t, after, mountsFor(containerRole, role), root)
    const argv = readArgv(after)
    for (const flag of expectedFlags(containerRole, root)) {
      t.equal(argv.filter((token) => token === flag).length, 1, `container "${before.name}" has ${flag} once`)
    }
    t.notOk(argv.some((token) => token === '--insecure' || token.startsWith('--insecure=')), `no --insecure in "${before.name}"`)
  }
  t.equal(output.metadata?.annotations?.[Annotations.status], `injected; role=${role}; version=${settings.version}`)
  checkConsistency(t, output)
  t.same(stripInjection(output, input), dropInsecure(input), 'nothing else changed')
}

/** The init container, as an insecure pod and a taken-over one both get it; `names` is the set it is told. */
export function checkInitContainer(t: Test, output: V1Pod, role: PodRole, settings: InjectionSettings, names: SecretNames): void {
  const root = settings.mountRoot.replace(/\/+$/, '')
  const init = output.spec?.initContainers?.[0]
  t.equal(init?.name, INIT_CONTAINER_NAME, 'bootstrap-tls is the first init container')
  t.equal(init?.image, settings.image, 'init container uses the injector image')
  t.same(init?.args?.slice(0, 2), ['bootstrap-tls', `--role=${role === 'envoy' ? 'envoy' : 'contour'}`], 'init role')
  const told = { contour: 'contour-tls', envoy: 'envoy-tls', ca: 'contour-ca', ...Object.fromEntries((init?.args ?? []).flatMap((arg) => {
    const match = /^--(contour|envoy|ca)-secret=(.+)$/.exec(arg)
    return match === null ? [] : [[match[1], match[2]]]
  })) }
  t.same(told, names, 'init container is told the set\'s Secret names')
  t.match(init?.securityContext, {
    allowPrivilegeEscalation: false,
    capabilities: { drop: ['ALL'] },
    readOnlyRootFilesystem: true,
    runAsNonRoot: true,
    seccompProfile: { type: 'RuntimeDefault' },
  }, 'init container passes Pod Security restricted')
  t.same(init?.env?.map((env) => [env.name, env.valueFrom?.fieldRef?.fieldPath]), [
    ['POD_NAMESPACE', 'metadata.namespace'],
    ['CONTOUR_TLS_ROTATE', `metadata.annotations['${Annotations.rotate}']`],
  ], 'init env from the downward API')
  t.ok(init?.resources?.requests !== undefined && init.resources.limits !== undefined, 'init has requests and limits')
  if (init !== undefined) checkMounts(t, init, mountsFor('init', role), root)
  checkBootstrapMode(t, init, role, settings)
}

/**
 * Sidecar mode, Contour pods only: a native sidecar (`restartPolicy: Always`) told `--sidecar`,
 * gated by an exec startup probe (no shell in the image) that gives up about when bootstrap-tls's
 * 300 s --wait-timeout does. Otherwise, and always in Envoy pods, a plain init container.
 */
function checkBootstrapMode(t: Test, init: V1Container | undefined, role: PodRole, settings: InjectionSettings): void {
  const root = settings.mountRoot.replace(/\/+$/, '')
  const args = init?.args ?? []
  if (settings.bootstrapMode !== 'sidecar' || role === 'envoy') {
    t.equal(init?.restartPolicy, undefined, 'a plain init container: no restartPolicy')
    t.equal(init?.startupProbe, undefined, 'a plain init container: no startup probe')
    t.notOk(args.includes('--sidecar'), 'no --sidecar')
    return
  }
  t.equal(init?.restartPolicy, 'Always', 'a native sidecar: restartPolicy Always')
  t.equal(args.filter((arg) => arg === '--sidecar').length, 1, 'told --sidecar once')
  const probe = init?.startupProbe
  const command = probe?.exec?.command ?? []
  t.same(Object.keys(probe ?? {}).filter((key) => ['exec', 'httpGet', 'tcpSocket', 'grpc'].includes(key)), ['exec'], 'an exec probe and nothing else')
  t.same(command.slice(command.indexOf('bootstrap-tls'), command.indexOf('bootstrap-tls') + 2), ['bootstrap-tls', '--probe'], 'the probe runs bootstrap-tls --probe')
  t.same(command.filter((arg) => arg.startsWith('--tls-dir')), root === '/etc/tls' ? [] : [`--tls-dir=${root}`], 'the probe looks under the mount root')
  t.equal(command.includes('--colocated'), role === 'co-located', 'the probe checks the Envoy mount in a co-located pod')
  const period = probe?.periodSeconds ?? 10
  const budget = period * (probe?.failureThreshold ?? 3)
  t.ok(period >= 1 && period <= 2, `probed every ${period} s`)
  t.ok(budget >= 290 && budget <= 310, `gives up after ${budget} s, about when --wait-timeout (300 s) does`)
  t.ok((probe?.timeoutSeconds ?? 1) >= 3, 'time enough for a Node start on a busy node')
}

export function checkMounts(t: Test, container: V1Container, volumes: readonly TlsVolume[], root: string): void {
  const ours = (container.volumeMounts ?? []).filter((mount) => OUR_VOLUMES.has(mount.name))
  const expected = volumes.map((which) => ({ name: VOLUME_NAMES[which], mountPath: `${root}/${which}`, readOnly: true }))
  t.same(ours, expected, `mounts of "${container.name}": read-only, no subPath`)
}

function checkVolumes(t: Test, volumes: readonly V1Volume[], expected: readonly TlsVolume[], settings: InjectionSettings): void {
  const ours = volumes.filter((volume) => OUR_VOLUMES.has(volume.name))
  const wanted = expected.map((which) => ({
    name: VOLUME_NAMES[which],
    secret: { secretName: settings.secretNames[which], optional: true },
  }))
  t.same(ours, wanted, 'optional Secret volumes, defaultMode untouched')
}

/** Unique volume names, unique mount paths per container, every mount backed by a volume. */
export function checkConsistency(t: Test, pod: V1Pod): void {
  const names = (pod.spec?.volumes ?? []).map((volume) => volume.name)
  t.equal(new Set(names).size, names.length, 'volume names are unique')
  for (const container of listContainers(pod)) {
    const paths = (container.volumeMounts ?? []).map((mount) => mount.mountPath)
    t.equal(new Set(paths).size, paths.length, `mount paths of "${container.name}" are unique`)
    const orphans = (container.volumeMounts ?? []).filter((mount) => !names.includes(mount.name))
    t.same(orphans, [], `mounts of "${container.name}" refer to volumes`)
  }
}

/** The output with everything injection adds taken away again. */
function stripInjection(output: V1Pod, input: V1Pod): V1Pod {
  const pod = structuredClone(output)
  const annotations = pod.metadata?.annotations
  if (annotations !== undefined) delete annotations[Annotations.status]
  if (pod.metadata !== undefined && input.metadata?.annotations === undefined) delete pod.metadata.annotations
  if (input.metadata === undefined) delete pod.metadata
  const spec = pod.spec
  if (spec === undefined) return pod
  spec.initContainers?.shift()
  if (input.spec?.initContainers === undefined) delete spec.initContainers
  spec.volumes = spec.volumes?.filter((volume) => !OUR_VOLUMES.has(volume.name))
  if (input.spec?.volumes === undefined) delete spec.volumes
  const inputContainers = listContainers(input)
  for (const [index, container] of listContainers(pod).entries()) {
    const before = inputContainers[index]
    container.volumeMounts = container.volumeMounts?.filter((mount) => !OUR_VOLUMES.has(mount.name))
    if (before?.volumeMounts === undefined) delete container.volumeMounts
    container.args = container.args?.filter((token) => !OUR_FLAGS.some((flag) => token.startsWith(flag)))
    if (before?.args === undefined) delete container.args
  }
  return pod
}

function dropInsecure(input: V1Pod): V1Pod {
  const pod = structuredClone(input)
  for (const container of listContainers(pod)) {
    if (classifyContainer(container) !== 'serve') continue
    const keep = (token: string, index: number) => index === 0 || !(token === '--insecure' || token.startsWith('--insecure='))
    if (container.command !== undefined) container.command = container.command.filter(keep)
    if (container.args !== undefined) {
      const offset = container.command?.length ?? 0
      container.args = container.args.filter((token, index) => keep(token, index + offset))
    }
  }
  return pod
}
