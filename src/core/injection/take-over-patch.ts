// The operations of a take-over: each TLS setting's value replaced in place by our file (a flag
// keeps its form, an env var stays an env var), certgen's volumes made optional, and the volumes
// a ContourConfiguration's paths live on pointed at our Secrets.
import type { SettingRewrite, VolumeEdit } from './plan-take-over.ts'
import { sameStrings } from './tls-flags.ts'
import type { TlsCommand, TlsFile } from './tls-flags.ts'
import type { Operation } from './types.ts'

export function pushSettingRewrites(
  patch: Operation[],
  rewrite: SettingRewrite,
  files: Readonly<Record<TlsCommand, Readonly<Record<TlsFile, string>>>>,
): void {
  const { container } = rewrite
  const ours = files[rewrite.command]
  const commandLength = container.command?.length ?? 0
  let command: string[] | undefined
  let args: string[] | undefined
  const base = `/spec/${container.list}/${container.index}`
  for (const use of rewrite.uses) {
    const path = ours[use.file]
    if (use.form === 'env') {
      if (use.value !== path) patch.push({ op: 'replace', path: `${base}/env/${use.index}/value`, value: path })
      continue
    }
    const token = use.form === 'flag-equals' ? `${use.flag}=${path}` : path
    if (use.index < commandLength) {
      command ??= [...(container.command ?? [])]
      command[use.index] = token
    } else {
      args ??= [...(container.args ?? [])]
      args[use.index - commandLength] = token
    }
  }
  // Whole arrays, as for an insecure pod: a JSON patch cannot test one token and replace it.
  if (command !== undefined && !sameStrings(command, container.command ?? [])) patch.push({ op: 'replace', path: `${base}/command`, value: command })
  if (args !== undefined && !sameStrings(args, container.args ?? [])) patch.push({ op: 'replace', path: `${base}/args`, value: args })
}

export function pushVolumeEdit(patch: Operation[], edit: VolumeEdit): void {
  if (edit.edit === 'optional') patch.push({ op: 'add', path: `/spec/volumes/${edit.index}/secret/optional`, value: true })
  else patch.push({ op: 'replace', path: `/spec/volumes/${edit.index}/secret`, value: edit.secret })
}
