// What a pod's existing TLS means for injection: none (inject as for an insecure pod), a
// half-finished setup (warn), a setup to keep (the policy, or files no Secret volume holds), or
// a take-over: every file Contour and Envoy read comes from our set afterwards.
//
// Two routes lead there. Where Contour or Envoy read the TLS settings (flags and env vars), each
// value is replaced in place by our path and certgen's volumes become optional, so pods still
// start once certgen's Secrets are deleted. `contour serve --contour-config-name` ignores those
// settings and reads the paths of its ContourConfiguration, `/certs/{ca.crt,tls.crt,tls.key}`
// unless the object says otherwise; there the Secret volumes holding those paths are pointed
// at our Secrets instead (`items` mapping our keys where the layout differs).
import { commonCertgenSuffix, instanceSecretNames } from './certgen-secrets.ts'
import { findConfigName, locateTlsSettings } from './locate-tls-settings.ts'
import type { TlsSettingUse } from './locate-tls-settings.ts'
import { readEnvNames } from './read-pod.ts'
import type { ContainerView, PodView } from './read-pod.ts'
import { readSecretVolumes, resolveSecretFile } from './resolve-secret-file.ts'
import { describeContainer, skipPod } from './skip.ts'
import type { Skip } from './skip.ts'
import type { SecretFile, SecretVolume } from './resolve-secret-file.ts'
import { findTlsFlags } from './tls-flags.ts'
import type { TlsCommand, TlsFile } from './tls-flags.ts'
import { SkipReasons } from './types.ts'
import type { InjectionSettings, SecretNames } from './types.ts'

/** The xDS TLS files of a ContourConfiguration that does not set them (internal/contourconfig). */
export const CONFIG_DEFAULT_FILES: Readonly<Record<TlsFile, string>> = { ca: '/certs/ca.crt', cert: '/certs/tls.crt', key: '/certs/tls.key' }

/** Our Secrets' key for each file. */
const OUR_KEYS: Readonly<Record<TlsFile, string>> = { ca: 'ca.crt', cert: 'tls.crt', key: 'tls.key' }

const MAX_SECRET_NAME = 253

export interface SettingRewrite {
  readonly container: ContainerView
  readonly command: TlsCommand
  /** Literal uses only: a take-over never has a use whose file it cannot know. */
  readonly uses: readonly Exclude<TlsSettingUse, { form: 'env-from-source' }>[]
}

export type VolumeEdit =
  /** The volume keeps its Secret; it may now be missing. */
  | { readonly index: number; readonly edit: 'optional' }
  /** The volume shows our Secret instead, with the same files at the same paths. */
  | { readonly index: number; readonly edit: 'repoint'; readonly secret: Readonly<Record<string, unknown>> }

export interface TakeOver {
  /** certgen's instance suffix, carried over to our set's names. */
  readonly suffix: string
  readonly secretNames: SecretNames
  /** The Secrets whose files are replaced, sorted. */
  readonly replaced: readonly string[]
  readonly rewrites: readonly SettingRewrite[]
  readonly volumeEdits: readonly VolumeEdit[]
}

export type ExistingTls = { readonly outcome: 'none' } | { readonly outcome: 'take-over'; readonly takeOver: TakeOver } | Skip

interface ContainerTls {
  readonly container: ContainerView
  readonly command: TlsCommand
  /** `settings`: Contour or Envoy read the flags and env vars; `config`: serve reads its ContourConfiguration. */
  readonly route: 'settings' | 'config'
  readonly state: 'none' | 'complete'
  readonly uses: readonly TlsSettingUse[]
  /** Per use (settings route) or per file (config route); undefined where no Secret volume holds it. */
  readonly files: readonly { readonly file: TlsFile; readonly secretFile: SecretFile | undefined }[]
}

export function planExistingTls(
  view: PodView,
  serve: readonly ContainerView[],
  bootstrap: readonly ContainerView[],
  settings: InjectionSettings,
): ExistingTls {
  // Read only when a container has TLS to resolve: most admitted pods have none.
  let volumes: ReadonlyMap<string, SecretVolume | null> | undefined
  const secretVolumes = () => (volumes ??= readSecretVolumes(view.volumes))
  const states: ContainerTls[] = []
  for (const [command, containers] of [['serve', serve], ['bootstrap', bootstrap]] as const) {
    for (const container of containers) {
      const state = readContainerTls(container, command, secretVolumes)
      if (state.outcome === 'skip') return state
      states.push(state)
    }
  }
  const configured = states.find((state) => state.state === 'complete')
  if (configured === undefined) return { outcome: 'none' }
  const unconfigured = states.find((state) => state.state === 'none')
  if (unconfigured !== undefined) {
    return skipPod(
      SkipReasons.partialTlsFlags,
      `${describeContainer(configured.container)} sets its TLS flags but ${describeContainer(unconfigured.container)} sets none`,
    )
  }
  if (settings.existingTls === 'keep') return skipPod(SkipReasons.tlsConfigured)
  // TLS from a hostPath, an emptyDir, a CSI volume or the image is the user's own, whatever the policy.
  if (states.some((state) => state.files.some(({ secretFile }) => secretFile === undefined))) return skipPod(SkipReasons.tlsConfigured)

  const files = states.flatMap((state) => state.files.map(({ secretFile }) => secretFile as SecretFile))
  const replaced = [...new Set(files.map((file) => file.volume.secretName))].sort()
  const suffix = commonCertgenSuffix(replaced)
  if (suffix === undefined && settings.existingTls === 'certgen') {
    return skipPod(
      SkipReasons.existingTlsKept,
      `TLS comes from Secret${replaced.length > 1 ? 's' : ''} ${replaced.join(', ')}, not from one contour certgen instance ` +
        '(contourcert<S>, envoycert<S>, cacert<S>); the injector takes it over with --existing-tls=all',
    )
  }
  const secretNames = instanceSecretNames(settings.secretNames, suffix ?? '')
  const tooLong = Object.values(secretNames).find((name) => name.length > MAX_SECRET_NAME)
  if (tooLong !== undefined) {
    return skipPod(SkipReasons.existingTlsKept, `the set's Secret name "${tooLong.slice(0, 40)}..." would be longer than ${MAX_SECRET_NAME} characters`)
  }
  const volumeEdits = planVolumeEdits(states, view.volumes ?? [], secretNames)
  const rewrites: SettingRewrite[] = []
  for (const state of states) {
    if (state.route !== 'settings') continue
    const uses = state.uses.filter((use): use is SettingRewrite['uses'][number] => use.form !== 'env-from-source')
    rewrites.push({ container: state.container, command: state.command, uses })
  }
  return { outcome: 'take-over', takeOver: { suffix: suffix ?? '', secretNames, replaced, rewrites, volumeEdits } }
}

function readContainerTls(
  container: ContainerView,
  command: TlsCommand,
  secretVolumes: () => ReadonlyMap<string, SecretVolume | null>,
): (ContainerTls & { readonly outcome: 'read' }) | Skip {
  const configName = command === 'serve' ? findConfigName(container) : undefined
  if (configName !== undefined) {
    const files = (Object.keys(CONFIG_DEFAULT_FILES) as TlsFile[]).map((file) => ({
      file,
      secretFile: resolveSecretFile(container, CONFIG_DEFAULT_FILES[file], secretVolumes()),
    }))
    if (files.some(({ secretFile }) => secretFile === undefined)) {
      return skipPod(
        SkipReasons.contourConfigName,
        `${describeContainer(container)} runs contour serve --contour-config-name=${configName}, which reads xDS TLS from that ` +
          `ContourConfiguration (by default ${Object.values(CONFIG_DEFAULT_FILES).join(', ')}) and ignores TLS flags; ` +
          'no Secret volume holds those files, so there is nothing to take over and flags would change nothing',
      )
    }
    return { outcome: 'read', container, command, route: 'config', state: 'complete', uses: [], files }
  }
  const flags = findTlsFlags(command, container.argv ?? [], readEnvNames(container.env))
  if (flags.present.length > 0 && flags.missing.length > 0) {
    return skipPod(SkipReasons.partialTlsFlags, `${describeContainer(container)} sets ${flags.present.join(', ')} but not ${flags.missing.join(', ')}`)
  }
  if (flags.present.length === 0) return { outcome: 'read', container, command, route: 'settings', state: 'none', uses: [], files: [] }
  const uses = locateTlsSettings(command, container)
  const files = uses.map((use) => ({
    file: use.file,
    secretFile: use.form === 'env-from-source' ? undefined : resolveSecretFile(container, use.value, secretVolumes()),
  }))
  // A flag with no value after it (`--contour-cafile` last) is present but names no file.
  for (const file of ['ca', 'cert', 'key'] as const) if (!uses.some((use) => use.file === file)) files.push({ file, secretFile: undefined })
  return { outcome: 'read', container, command, route: 'settings', state: 'complete', uses, files }
}

/** Repointed volumes first (config route), then the volumes that become optional, by index. */
function planVolumeEdits(states: readonly ContainerTls[], podVolumes: readonly unknown[], names: SecretNames): VolumeEdit[] {
  const repointed = new Map<number, { volume: SecretVolume; files: Map<string, TlsFile> }>()
  for (const state of states) {
    if (state.route !== 'config') continue
    for (const { file, secretFile } of state.files) {
      if (secretFile === undefined) continue
      const entry = repointed.get(secretFile.volume.index) ?? { volume: secretFile.volume, files: new Map<string, TlsFile>() }
      entry.files.set(secretFile.path, file)
      repointed.set(secretFile.volume.index, entry)
    }
  }
  const edits: VolumeEdit[] = []
  for (const { volume, files } of repointed.values()) {
    const kinds = new Set(files.values())
    // Our Contour Secret holds ca.crt too: a volume with the leaf and the CA shows that Secret alone.
    const secretName = kinds.has('cert') || kinds.has('key') ? names.contour : names.ca
    const original = (podVolumes[volume.index] as { secret: Readonly<Record<string, unknown>> }).secret
    const sameLayout = volume.items === undefined && [...files].every(([path, file]) => path === OUR_KEYS[file])
    const { items: _items, ...rest } = original
    const secret = sameLayout
      ? { ...rest, secretName, optional: true }
      : { ...rest, secretName, optional: true, items: [...files].map(([path, file]) => ({ key: OUR_KEYS[file], path })) }
    edits.push({ index: volume.index, edit: 'repoint', secret })
  }
  const optional = new Set<number>()
  for (const state of states) {
    if (state.route !== 'settings') continue
    for (const { secretFile } of state.files) {
      if (secretFile === undefined || secretFile.volume.optional || repointed.has(secretFile.volume.index)) continue
      optional.add(secretFile.volume.index)
    }
  }
  for (const index of [...optional].sort((a, b) => a - b)) edits.push({ index, edit: 'optional' })
  return edits
}
