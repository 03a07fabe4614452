// Reads the files of one Secret volume as a consistent snapshot. The kubelet's atomic writer
// makes every file a symlink `tls.crt -> ..data/tls.crt` and swaps `..data` to a new
// timestamped directory in one rename: a snapshot taken while `..data` moved is discarded.
// Without `..data` (a plain directory) the files are read twice and must read the same, so a
// file being written is never taken for a finished one.
import { readFile, readlink, stat } from 'node:fs/promises'
import { join } from 'node:path'

export type MountSnapshot =
  | { readonly ok: true; readonly files: Readonly<Record<string, Buffer>> }
  | { readonly ok: false; readonly detail: string }

export async function readMount(dir: string, names: readonly string[]): Promise<MountSnapshot> {
  const before = await dataLink(dir)
  const first = await readAll(dir, names)
  if (!first.ok) return first
  const after = await dataLink(dir)
  if (before !== after) return { ok: false, detail: `${dir} is being updated by the kubelet` }
  if (before === undefined) {
    const second = await readAll(dir, names)
    if (!second.ok) return second
    for (const name of names) {
      if (!first.files[name]?.equals(second.files[name] ?? Buffer.alloc(0))) return { ok: false, detail: `${join(dir, name)} is still being written` }
    }
  }
  return first
}

async function readAll(dir: string, names: readonly string[]): Promise<MountSnapshot> {
  const files: Record<string, Buffer> = {}
  for (const name of names) {
    const path = join(dir, name)
    try {
      files[name] = await readFile(path)
    } catch (err) {
      return { ok: false, detail: await describeReadError(dir, path, err) }
    }
  }
  return { ok: true, files }
}

async function describeReadError(dir: string, path: string, err: unknown): Promise<string> {
  const code = (err as NodeJS.ErrnoException).code
  if (code !== 'ENOENT') return `${path} cannot be read (${code ?? 'error'})`
  try {
    await stat(dir)
    return `${path} does not exist yet`
  } catch {
    return `${dir} does not exist (is the Secret volume mounted?)`
  }
}

/** Where `..data` points, or undefined when the directory is not a kubelet Secret volume. */
async function dataLink(dir: string): Promise<string | undefined> {
  try {
    return await readlink(join(dir, '..data'))
  } catch {
    return undefined
  }
}
