// The test's own reading of pods, written apart from the engine so the checks do not borrow
// the code they check: which container is which, and the "insecure" variant of an upstream
// pod (what a user who never ran certgen would deploy).
import path from 'node:path'
import type { V1Container, V1Pod } from '@kubernetes/client-node'

export type ContainerRole = 'serve' | 'bootstrap' | 'envoy' | 'other'

const UPSTREAM_CERT_SECRETS = new Set(['contourcert', 'envoycert', 'cacert'])
const UPSTREAM_TLS_FLAGS = [
  '--contour-cafile',
  '--contour-cert-file',
  '--contour-key-file',
  '--envoy-cafile',
  '--envoy-cert-file',
  '--envoy-key-file',
]

export function readArgv(container: V1Container): string[] {
  return [...(container.command ?? []), ...(container.args ?? [])]
}

export function classifyContainer(container: V1Container): ContainerRole {
  const [executable, ...rest] = readArgv(container)
  if (executable === undefined) return 'other'
  const name = path.posix.basename(executable)
  if (name === 'envoy') return 'envoy'
  if (name !== 'contour') return 'other'
  const subcommand = rest.find((token) => !token.startsWith('-'))
  return subcommand === 'serve' || subcommand === 'bootstrap' ? subcommand : 'other'
}

export function listContainers(pod: V1Pod): V1Container[] {
  return [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])]
}

/** Whether an upstream pod already points Contour or Envoy at certgen's files. */
export function hasUpstreamTls(pod: V1Pod): boolean {
  return listContainers(pod).some((container) =>
    readArgv(container).some((token) => UPSTREAM_TLS_FLAGS.some((flag) => token === flag || token.startsWith(`${flag}=`))),
  )
}

/** The certgen Secrets a pod's volumes name, sorted: what taking it over replaces. */
export function upstreamReplaced(pod: V1Pod): string[] {
  const names = (pod.spec?.volumes ?? []).map((volume) => volume.secret?.secretName ?? '')
  return [...new Set(names.filter((name) => UPSTREAM_CERT_SECRETS.has(name)))].sort()
}

/**
 * The pod without certgen: TLS flags (either form) and the cert Secret volumes and their
 * mounts removed, `--insecure` right after `serve` as v0.15+ manifests place it.
 */
export function makeInsecureVariant(pod: V1Pod): V1Pod {
  const variant = structuredClone(pod)
  const spec = variant.spec
  if (spec === undefined) return variant
  const certVolumes = new Set(
    (spec.volumes ?? []).filter((volume) => UPSTREAM_CERT_SECRETS.has(volume.secret?.secretName ?? '')).map((v) => v.name),
  )
  spec.volumes = (spec.volumes ?? []).filter((volume) => !certVolumes.has(volume.name))
  for (const container of listContainers(variant)) {
    const role = classifyContainer(container)
    if (container.volumeMounts !== undefined) {
      container.volumeMounts = container.volumeMounts.filter((mount) => !certVolumes.has(mount.name))
    }
    if (role !== 'serve' && role !== 'bootstrap') continue
    if (container.command !== undefined) container.command = dropTlsFlags(container.command)
    if (container.args !== undefined) container.args = dropTlsFlags(container.args)
    if (role === 'serve') {
      const args = container.args ?? []
      const serveAt = args.indexOf('serve')
      args.splice(serveAt + 1, 0, '--insecure')
      container.args = args
    }
  }
  return variant
}

function dropTlsFlags(tokens: readonly string[]): string[] {
  const kept: string[] = []
  for (let index = 0; index < tokens.length; index += 1) {
    const token = tokens[index] ?? ''
    if (UPSTREAM_TLS_FLAGS.includes(token)) index += 1 // `--flag value`: drop the value too
    else if (!UPSTREAM_TLS_FLAGS.some((flag) => token.startsWith(`${flag}=`))) kept.push(token)
  }
  return kept
}
