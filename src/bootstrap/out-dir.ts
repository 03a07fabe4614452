// `--out-dir DIR`: one fresh set as PEM files, no cluster. Existing files are never touched
// unless --force; each file is written to a temporary name and renamed, keys with mode 0600.
import { randomBytes } from 'node:crypto'
import { chmod, lstat, mkdir, open, rename, rm } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { InjectorError } from '../errors.ts'
import type { CertificateSet } from '../core/certs/types.ts'
import { BootstrapErrorCodes } from './exit-codes.ts'

export interface OutFile {
  readonly path: string
  readonly mode: number
  readonly content: string
}

/** The layout of the design: DIR/ca/ca.crt, DIR/contour/{tls.crt,tls.key,ca.crt}, DIR/envoy/{...}. */
export function outDirLayout(dir: string, set: CertificateSet): OutFile[] {
  const cert = 0o644
  const key = 0o600
  return [
    { path: join(dir, 'ca', 'ca.crt'), mode: cert, content: set.caCert },
    { path: join(dir, 'contour', 'tls.crt'), mode: cert, content: set.contourCert },
    { path: join(dir, 'contour', 'tls.key'), mode: key, content: set.contourKey },
    { path: join(dir, 'contour', 'ca.crt'), mode: cert, content: set.caCert },
    { path: join(dir, 'envoy', 'tls.crt'), mode: cert, content: set.envoyCert },
    { path: join(dir, 'envoy', 'tls.key'), mode: key, content: set.envoyKey },
    { path: join(dir, 'envoy', 'ca.crt'), mode: cert, content: set.caCert },
  ]
}

/** The layout's paths that exist already (any kind of file). */
export async function existingFiles(dir: string): Promise<string[]> {
  const found: string[] = []
  for (const { path } of outDirLayout(dir, { caCert: '', contourCert: '', contourKey: '', envoyCert: '', envoyKey: '' })) {
    try {
      await lstat(path)
      found.push(path)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    }
  }
  return found
}

/** Fails with ERR_OUT_DIR_EXISTS, before writing anything, when a file is there and !force. */
export async function refuseExisting(dir: string, force: boolean): Promise<void> {
  if (force) return
  const found = await existingFiles(dir)
  if (found.length > 0) {
    throw new InjectorError(BootstrapErrorCodes.ERR_OUT_DIR_EXISTS, `refusing to overwrite ${found.join(', ')} (nothing was written; use --force to replace them)`)
  }
}

export async function writeOutDir(dir: string, set: CertificateSet, force: boolean): Promise<OutFile[]> {
  await refuseExisting(dir, force)
  const files = outDirLayout(dir, set)
  for (const file of files) await mkdir(dirname(file.path), { recursive: true, mode: 0o755 })
  for (const file of files) await writeAtomically(file)
  return files
}

async function writeAtomically(file: OutFile): Promise<void> {
  const tmp = `${file.path}.tmp-${randomBytes(6).toString('hex')}`
  // 'wx': never follow or reuse a file planted at the temporary name; the mode applies at creation.
  const handle = await open(tmp, 'wx', file.mode)
  try {
    await handle.writeFile(file.content)
    await handle.sync()
  } finally {
    await handle.close()
  }
  try {
    await chmod(tmp, file.mode) // the umask may have taken bits from the creation mode
    await rename(tmp, file.path)
  } catch (err) {
    await rm(tmp, { force: true })
    throw err
  }
}
