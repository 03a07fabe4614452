// Checks a taken-over pod for what the design promises, read the test's own way (not with the
// engine's code): every file Contour and Envoy will read resolves, through the output pod's
// mounts and volumes, to a Secret of our set; the Secret volumes that held the old files are
// still there and optional; and nothing else differs from the input but the TLS values, the
// secret fields of those volumes and what an insecure pod gets.
import path from 'node:path'
import type { V1Container, V1EnvVar, V1Pod, V1Volume } from '@kubernetes/client-node'
import type { Test } from 'tap'
import { Annotations, INIT_CONTAINER_NAME, VOLUME_NAMES } from '../../../../src/core/injection/types.ts'
import type { InjectionSettings, PodRole, SecretNames } from '../../../../src/core/injection/types.ts'
import { checkConsistency, checkInitContainer, checkMounts, mountsFor } from './check-injected-pod.ts'
import { classifyContainer, listContainers, readArgv } from './upstream-variants.ts'

type Command = 'serve' | 'bootstrap'
type TlsFile = 'ca' | 'cert' | 'key'

const SETTINGS: Record<Command, Array<{ flag: string; env: string; file: TlsFile }>> = {
  serve: [
    { flag: '--contour-cafile', env: 'CONTOUR_CAFILE', file: 'ca' },
    { flag: '--contour-cert-file', env: 'CONTOUR_CERT_FILE', file: 'cert' },
    { flag: '--contour-key-file', env: 'CONTOUR_KEY_FILE', file: 'key' },
  ],
  bootstrap: [
    { flag: '--envoy-cafile', env: 'ENVOY_CAFILE', file: 'ca' },
    { flag: '--envoy-cert-file', env: 'ENVOY_CERT_FILE', file: 'cert' },
    { flag: '--envoy-key-file', env: 'ENVOY_KEY_FILE', file: 'key' },
  ],
}
const CONFIG_FILES: Record<TlsFile, string> = { ca: '/certs/ca.crt', cert: '/certs/tls.crt', key: '/certs/tls.key' }
const KEYS: Record<TlsFile, string> = { ca: 'ca.crt', cert: 'tls.crt', key: 'tls.key' }
const OUR_VOLUMES: ReadonlySet<string> = new Set(Object.values(VOLUME_NAMES))

export interface TakeOverExpectation {
  readonly replaced: readonly string[]
  readonly secretNames: SecretNames
}

/** Where a container's TLS values sit: argv positions and env entries (all uses, flags first). */
interface ValueSpot {
  readonly file: TlsFile
  readonly value: string
  readonly where: { readonly argv: number } | { readonly env: number }
}

function readSpots(container: V1Container, command: Command): ValueSpot[] {
  const argv = readArgv(container)
  const end = argv.includes('--') ? argv.indexOf('--') : argv.length
  const spots: ValueSpot[] = []
  for (let i = 1; i < end; i++) {
    const token = argv[i] ?? ''
    for (const setting of SETTINGS[command]) {
      if (token.startsWith(`${setting.flag}=`)) spots.push({ file: setting.file, value: token.slice(setting.flag.length + 1), where: { argv: i } })
      else if (token === setting.flag && i + 1 < end) spots.push({ file: setting.file, value: argv[i + 1] ?? '', where: { argv: i + 1 } })
    }
  }
  for (const [index, env] of (container.env ?? []).entries()) {
    const setting = SETTINGS[command].find((candidate) => candidate.env === env.name)
    if (setting !== undefined && typeof env.value === 'string' && env.value !== '') spots.push({ file: setting.file, value: env.value, where: { env: index } })
  }
  return spots
}

function configName(container: V1Container): string | undefined {
  const argv = readArgv(container)
  for (const [i, token] of argv.entries()) {
    if (token.startsWith('--contour-config-name=') && token.length > '--contour-config-name='.length) return token.split('=')[1]
    if (token === '--contour-config-name') return argv[i + 1]
  }
  return undefined
}

/** The Secret name and key a file shows in the pod, the kubelet's way; undefined when no Secret volume holds it. */
export function resolveFile(pod: V1Pod, container: V1Container, file: string): { secretName: string; key: string } | undefined {
  const mounts = [...(container.volumeMounts ?? [])].sort((a, b) => b.mountPath.length - a.mountPath.length)
  const mount = mounts.find((m) => file === m.mountPath || file.startsWith(`${m.mountPath.replace(/\/$/, '')}/`))
  if (mount === undefined) return undefined
  const volume = (pod.spec?.volumes ?? []).find((v) => v.name === mount.name)
  if (volume?.secret?.secretName === undefined) return undefined
  const inVolume = path.posix.join(mount.subPath ?? '', path.posix.relative(mount.mountPath, file))
  const items = volume.secret.items
  if (items === undefined) return { secretName: volume.secret.secretName, key: inVolume }
  const item = items.find((i) => i.path === inVolume)
  return item === undefined ? undefined : { secretName: volume.secret.secretName, key: item.key }
}

export function checkTakenOverPod(t: Test, input: V1Pod, output: V1Pod, role: PodRole, settings: InjectionSettings, expected: TakeOverExpectation): void {
  const names = expected.secretNames
  checkInitContainer(t, output, role, settings, names)
  const root = settings.mountRoot.replace(/\/+$/, '')
  const ours = (output.spec?.volumes ?? []).filter((v) => OUR_VOLUMES.has(v.name))
  for (const volume of ours) {
    const which = Object.entries(VOLUME_NAMES).find(([, name]) => name === volume.name)?.[0] as keyof SecretNames
    t.same(volume.secret, { secretName: names[which], optional: true }, `volume ${volume.name} shows ${names[which]}, optional`)
  }
  for (const container of listContainers(output).filter((c) => c.name !== INIT_CONTAINER_NAME)) {
    const kind = classifyContainer(container)
    if (kind !== 'other') checkMounts(t, container, mountsFor(kind, role), root)
  }
  for (const problem of findForeignReads(output, names, root)) t.fail(problem)
  for (const read of listTlsReads(output)) t.pass(`"${read.container.name}" reads ${read.path} from our set`)
  t.equal(output.metadata?.annotations?.[Annotations.status], `injected; role=${role}; replaced=${expected.replaced.join(',')}; version=${settings.version}`, 'status says what was replaced')
  checkReplacedVolumes(t, input, output, expected.replaced)
  checkConsistency(t, output)
  checkOnlyAllowedChanges(t, input, output, expected.replaced)
}

export interface TlsRead {
  readonly container: V1Container
  readonly kind: Command | 'envoy'
  readonly file: TlsFile
  readonly path: string
}

/**
 * Every file Contour and Envoy will read: serve's and bootstrap's settings (serve's
 * ContourConfiguration defaults when it runs --contour-config-name), and the Envoy containers
 * the bootstrap's files (inline or through SDS: the same paths).
 */
export function listTlsReads(pod: V1Pod): TlsRead[] {
  const reads: TlsRead[] = []
  const containers = listContainers(pod).filter((c) => c.name !== INIT_CONTAINER_NAME)
  const bootstrapFiles: Array<{ file: TlsFile; path: string }> = []
  for (const container of containers) {
    const kind = classifyContainer(container)
    if (kind !== 'serve' && kind !== 'bootstrap') continue
    const config = kind === 'serve' ? configName(container) : undefined
    const files = config !== undefined
      ? (Object.keys(CONFIG_FILES) as TlsFile[]).map((file) => ({ file, path: CONFIG_FILES[file] }))
      : readSpots(container, kind).map((spot) => ({ file: spot.file, path: spot.value }))
    for (const file of files) reads.push({ container, kind, ...file })
    if (kind === 'bootstrap') bootstrapFiles.push(...files)
  }
  for (const envoy of containers.filter((c) => classifyContainer(c) === 'envoy')) {
    for (const file of bootstrapFiles) reads.push({ container: envoy, kind: 'envoy', ...file })
  }
  return reads
}

/** What is wrong with a taken-over pod's reads: a file not from our set, or a setting left out. */
export function findForeignReads(pod: V1Pod, names: SecretNames, root: string): string[] {
  const problems: string[] = []
  const reads = listTlsReads(pod)
  for (const container of new Set(reads.filter((r) => r.kind !== 'envoy').map((r) => r.container))) {
    const files = new Set(reads.filter((r) => r.container === container).map((r) => r.file))
    if (files.size !== 3) problems.push(`"${container.name}" does not read all three files`)
  }
  for (const read of reads) {
    const leaf = read.kind === 'serve' ? names.contour : names.envoy
    const allowed = read.file === 'ca' ? [names.ca, leaf] : [leaf]
    const shown = resolveFile(pod, read.container, read.path)
    if (shown === undefined || !allowed.includes(shown.secretName) || shown.key !== KEYS[read.file]) {
      problems.push(`"${read.container.name}" reads ${read.path} from ${shown === undefined ? 'no Secret' : `${shown.secretName}/${shown.key}`}, not from our set`)
    }
    const config = read.kind === 'serve' && configName(read.container) !== undefined
    if (!config && !read.path.startsWith(`${root}/`)) problems.push(`"${read.container.name}" names ${read.path}, not a file under ${root}`)
  }
  return problems
}

/** Each replaced Secret's volumes stay, optional (or now showing our Secret), with their mounts. */
function checkReplacedVolumes(t: Test, input: V1Pod, output: V1Pod, replaced: readonly string[]): void {
  const before = (input.spec?.volumes ?? []).filter((v) => v.secret?.secretName !== undefined && replaced.includes(v.secret.secretName))
  t.ok(before.length > 0, 'the replaced Secrets had volumes')
  for (const volume of before) {
    const after = (output.spec?.volumes ?? []).find((v) => v.name === volume.name) as V1Volume | undefined
    t.equal(after?.secret?.optional, true, `volume ${volume.name} is optional now`)
  }
}

/**
 * Undoes what a take-over may change and compares with the input: our init container, volumes,
 * mounts and status go; TLS values come back from the input; replaced volumes' secret fields too.
 */
function checkOnlyAllowedChanges(t: Test, input: V1Pod, output: V1Pod, replaced: readonly string[]): void {
  const pod = structuredClone(output)
  const spec = pod.spec
  if (spec === undefined) return
  const annotations = pod.metadata?.annotations ?? {}
  delete annotations[Annotations.status]
  if (input.metadata?.annotations === undefined && pod.metadata !== undefined) delete pod.metadata.annotations
  spec.initContainers = spec.initContainers?.filter((c) => c.name !== INIT_CONTAINER_NAME)
  if (input.spec?.initContainers === undefined) delete spec.initContainers
  spec.volumes = spec.volumes?.filter((v) => !OUR_VOLUMES.has(v.name))
  for (const [index, volume] of (spec.volumes ?? []).entries()) {
    const original = input.spec?.volumes?.[index]
    const wasReplaced = original?.secret?.secretName !== undefined && replaced.includes(original.secret.secretName)
    if (wasReplaced && volume.secret !== undefined) volume.secret = original.secret
  }
  const inputContainers = listContainers(input)
  for (const [index, container] of listContainers(pod).entries()) {
    const before = inputContainers[index]
    if (before === undefined) continue
    container.volumeMounts = container.volumeMounts?.filter((m) => !OUR_VOLUMES.has(m.name))
    const kind = classifyContainer(before)
    if (kind !== 'serve' && kind !== 'bootstrap') continue
    for (const spot of readSpots(before, kind)) restoreSpot(container, before, spot)
  }
  t.same(pod, input, 'nothing else changed: only TLS values, the replaced volumes and what injection adds')
}

function restoreSpot(container: V1Container, before: V1Container, spot: ValueSpot): void {
  if ('env' in spot.where) {
    const env = container.env?.[spot.where.env] as V1EnvVar | undefined
    if (env !== undefined) env.value = before.env?.[spot.where.env]?.value
    return
  }
  const commandLength = before.command?.length ?? 0
  const i = spot.where.argv
  if (i < commandLength && container.command !== undefined) container.command[i] = before.command?.[i] ?? ''
  else if (container.args !== undefined) container.args[i - commandLength] = before.args?.[i - commandLength] ?? ''
}
