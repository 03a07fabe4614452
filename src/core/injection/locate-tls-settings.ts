// Where a container gives each of its TLS settings, precisely enough to replace the value in
// place: the argv token of a `--flag=value` or the token after a separate `--flag`, or an env
// entry. Taking over keeps the form the user chose, so this records the form too.
import { isRecord } from './read-pod.ts'
import type { ContainerView } from './read-pod.ts'
import { flagsEnd, TLS_SETTINGS } from './tls-flags.ts'
import type { TlsCommand, TlsFile } from './tls-flags.ts'

export type TlsSettingUse =
  /** `--flag=value`: the token at `index` of command ++ args is the whole flag. */
  | { readonly form: 'flag-equals'; readonly file: TlsFile; readonly flag: string; readonly index: number; readonly value: string }
  /** `--flag value`: the value is its own token, at `index`. */
  | { readonly form: 'flag-separate'; readonly file: TlsFile; readonly flag: string; readonly index: number; readonly value: string }
  /** An env var with a literal value at `env[index].value`. */
  | { readonly form: 'env'; readonly file: TlsFile; readonly env: string; readonly index: number; readonly value: string }
  /** An env var from a ConfigMap, a Secret or a field: its file cannot be known at admission. */
  | { readonly form: 'env-from-source'; readonly file: TlsFile; readonly env: string; readonly index: number }

/**
 * Every use of the command's three settings, flags before env. kingpin prefers a flag over its
 * env var, but taking over replaces both, so a later edit of either never brings certgen's
 * files back. Flags after `--` are positional and not settings.
 */
export function locateTlsSettings(command: TlsCommand, container: ContainerView): TlsSettingUse[] {
  const argv = container.argv ?? []
  const last = flagsEnd(argv)
  const uses: TlsSettingUse[] = []
  for (const setting of TLS_SETTINGS[command]) {
    for (let i = 1; i < last; i++) {
      const token = argv[i] as string
      if (token.startsWith(setting.prefix)) {
        uses.push({ form: 'flag-equals', file: setting.file, flag: setting.flag, index: i, value: token.slice(setting.prefix.length) })
      } else if (token === setting.flag && i + 1 < last) {
        uses.push({ form: 'flag-separate', file: setting.file, flag: setting.flag, index: i + 1, value: argv[i + 1] as string })
        i++
      }
    }
  }
  if (!Array.isArray(container.env)) return uses
  const env: readonly unknown[] = container.env
  for (const setting of TLS_SETTINGS[command]) {
    for (let index = 0; index < env.length; index++) {
      const entry = env[index]
      if (!isRecord(entry) || entry.name !== setting.env) continue
      if (typeof entry.value === 'string' && entry.value !== '') {
        uses.push({ form: 'env', file: setting.file, env: setting.env, index, value: entry.value })
      } else if (isRecord(entry.valueFrom)) {
        uses.push({ form: 'env-from-source', file: setting.file, env: setting.env, index })
      }
    }
  }
  return uses
}

/** kingpin reads `--contour-config-name` in either form; with a name, serve ignores the TLS flags. */
export function findConfigName(container: ContainerView): string | undefined {
  const argv = container.argv ?? []
  const last = flagsEnd(argv)
  for (let i = 1; i < last; i++) {
    const token = argv[i] as string
    const value = token.startsWith(`${CONFIG_NAME_FLAG}=`) ? token.slice(CONFIG_NAME_FLAG.length + 1) : token === CONFIG_NAME_FLAG && i + 1 < last ? argv[i + 1] : undefined
    // An empty name is no name: serve then reads its flags.
    if (value !== undefined && value !== '') return value
  }
  return undefined
}

export const CONFIG_NAME_FLAG = '--contour-config-name'
