// `--probe`: the native sidecar's startup probe, run by the kubelet every couple of seconds until
// it passes. One look at the mounted files, no API call, no waiting: exit 0 when <tls-dir>/contour
// (and <tls-dir>/envoy when co-located or present) holds a pair that verifies against the first
// CA of <tls-dir>/ca/ca.crt, with the same bundle in both mounts; else ERR_NOT_READY, one line.
// Imports node:fs and the check module only: a probe is a Node start, it must be quick.
import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { InjectorError } from '../errors.ts'
import type { BootstrapContext } from './context.ts'
import { BootstrapErrorCodes } from './exit-codes.ts'
import { checkMountedPair, type MountedLeaf } from './mounted-pair.ts'

export async function runProbe(config: { readonly tlsDir: string; readonly colocated: boolean }, ctx: BootstrapContext): Promise<void> {
  const leaves: MountedLeaf[] = ['contour']
  if (config.colocated || (await isDirectory(join(config.tlsDir, 'envoy')))) leaves.push('envoy')
  const now = new Date(ctx.clock.now())
  for (const leaf of leaves) {
    const result = await checkMountedPair(config.tlsDir, leaf, { now, sameBundle: true })
    if (!result.ready) throw new InjectorError(BootstrapErrorCodes.ERR_NOT_READY, result.detail)
  }
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory()
  } catch {
    return false
  }
}
