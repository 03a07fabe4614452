// Projects Secrets into a directory the way the kubelet fills a Secret volume: an optional
// volume starts empty, and on each sync the files are written to a new timestamped directory,
// `..data` is swapped to it in one rename, and every key is a symlink `key -> ..data/key`.
import { mkdir, readlink, rename, rm, symlink, writeFile, lstat } from 'node:fs/promises'
import { join } from 'node:path'
import type { SecretAdmin } from './secret-admin.ts'

/** Writes `files` as one atomic update of `dir`. */
export async function projectAtomically(dir: string, files: Record<string, Buffer | string>): Promise<void> {
  await mkdir(dir, { recursive: true })
  const stamp = `..${new Date().toISOString().replace(/[-:.TZ]/g, '_')}${Math.random().toString(36).slice(2, 8)}`
  await mkdir(join(dir, stamp))
  for (const [key, value] of Object.entries(files)) await writeFile(join(dir, stamp, key), value, { mode: 0o644 })
  let old: string | undefined
  try {
    old = await readlink(join(dir, '..data'))
  } catch {
    old = undefined
  }
  await symlink(stamp, join(dir, '..data_tmp'))
  await rename(join(dir, '..data_tmp'), join(dir, '..data'))
  for (const key of Object.keys(files)) {
    try {
      await lstat(join(dir, key))
    } catch {
      await symlink(join('..data', key), join(dir, key))
    }
  }
  if (old !== undefined) await rm(join(dir, old), { recursive: true, force: true })
}

export interface FakeKubelet {
  stop(): Promise<void>
}

/**
 * Polls the Secrets and projects each into `<tlsDir>/<mount>` whenever its data changes. With
 * `lagMs`, each mount gets a change after its own random delay up to lagMs (the latest data at
 * that moment), as the kubelet refreshes each pod's volumes on its own sync.
 */
export function startFakeKubelet(admin: SecretAdmin, tlsDir: string, mounts: Record<string, string>, intervalMs = 30, lagMs = 0): FakeKubelet {
  const seen = new Map<string, string>()
  const due = new Map<string, number>()
  let stopped = false
  const loop = (async () => {
    while (!stopped) {
      for (const [mount, secretName] of Object.entries(mounts)) {
        const secret = await admin.get(secretName).catch(() => undefined)
        if (!secret?.data) continue
        const digest = JSON.stringify(secret.data)
        if (seen.get(mount) === digest) {
          due.delete(mount)
          continue
        }
        if (lagMs > 0 && seen.has(mount)) {
          if (!due.has(mount)) due.set(mount, Date.now() + Math.random() * lagMs)
          if (Date.now() < (due.get(mount) ?? 0)) continue
        }
        const files: Record<string, Buffer> = {}
        for (const [k, v] of Object.entries(secret.data)) files[k] = Buffer.from(v, 'base64')
        await projectAtomically(join(tlsDir, mount), files)
        seen.set(mount, digest)
        due.delete(mount)
      }
      await new Promise((r) => setTimeout(r, intervalMs))
    }
  })()
  return {
    async stop() {
      stopped = true
      await loop
    },
  }
}
