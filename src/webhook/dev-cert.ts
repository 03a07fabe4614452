// `webhook --dev`: a throwaway CA and a serving certificate for 127.0.0.1/localhost, so
// `npm start` works on a fresh machine. The CA key is discarded like every CA key here.
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { issueCertificateSet } from '../core/certs/issue-set.ts'

export interface DevCertFiles {
  readonly dir: string
  readonly caFile: string
  readonly certFile: string
  readonly keyFile: string
}

export async function writeDevCertificate(dir: string | undefined): Promise<DevCertFiles> {
  const target = dir ?? (await mkdtemp(join(tmpdir(), 'contour-tls-injector-dev-')))
  await mkdir(target, { recursive: true, mode: 0o700 })
  const set = await issueCertificateSet({ namespace: 'default', serviceName: 'localhost', extraSans: ['127.0.0.1', '::1'], lifetimeDays: 30 })
  const files = { dir: target, caFile: join(target, 'ca.crt'), certFile: join(target, 'tls.crt'), keyFile: join(target, 'tls.key') }
  await writeFile(files.caFile, set.caCert, { mode: 0o644 })
  await writeFile(files.certFile, set.contourCert, { mode: 0o644 })
  await writeFile(files.keyFile, set.contourKey, { mode: 0o600 })
  return files
}
