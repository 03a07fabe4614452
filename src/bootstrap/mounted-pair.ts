// One leaf pair as the kubelet mounted it: <tls-dir>/<leaf>/{tls.crt,tls.key} checked against the
// first CA of <tls-dir>/ca/ca.crt. Shared by the Envoy role's wait and the sidecar's startup
// probe; node:fs and the check module only, so both start fast.
import { join } from 'node:path'
import { checkLeafPair } from '../core/certs/check-set.ts'
import { readMount } from './read-mount.ts'
import type { ProbeResult } from './wait-for-files.ts'

export type MountedLeaf = 'contour' | 'envoy'

const LEAVES = {
  contour: { usage: 'server', name: 'Contour' },
  envoy: { usage: 'client', name: 'Envoy' },
} as const

export interface MountedPairOptions {
  readonly now: Date
  /**
   * Also require the leaf mount's own `ca.crt` (the leaf Secret's copy of the bundle) to equal the
   * CA mount's: both come from one set, and Contour and Envoy may read either.
   */
  readonly sameBundle?: boolean
}

export async function checkMountedPair(tlsDir: string, leaf: MountedLeaf, opts: MountedPairOptions): Promise<ProbeResult> {
  const { usage, name } = LEAVES[leaf]
  const leafDir = join(tlsDir, leaf)
  const pair = await readMount(leafDir, opts.sameBundle === true ? ['tls.crt', 'tls.key', 'ca.crt'] : ['tls.crt', 'tls.key'])
  if (!pair.ok) return { ready: false, detail: pair.detail }
  const ca = await readMount(join(tlsDir, 'ca'), ['ca.crt'])
  if (!ca.ok) return { ready: false, detail: ca.detail }
  const bundle = ca.files['ca.crt'] ?? Buffer.alloc(0)
  if (opts.sameBundle === true && !bundle.equals(pair.files['ca.crt'] ?? Buffer.alloc(0))) {
    return { ready: false, detail: `${join(leafDir, 'ca.crt')} and ${join(tlsDir, 'ca', 'ca.crt')} hold different CA bundles (the kubelet has not refreshed both yet)` }
  }
  const text = (b: Buffer | undefined): string => b?.toString('utf8') ?? ''
  const result = checkLeafPair({ caCert: text(bundle), cert: text(pair.files['tls.crt']), key: text(pair.files['tls.key']) }, { usage, now: opts.now })
  if (result.ok) return { ready: true }
  // Inside the renewal window the pair still works; the Contour role renews it.
  if (result.reason === 'renewal-due') return { ready: true, note: `the mounted ${name} certificate is due for renewal (${result.detail})` }
  return { ready: false, detail: `the files under ${tlsDir} are not a valid ${name} pair yet (${result.reason}: ${result.detail})` }
}
