// `--role=envoy`: wait until <tls-dir>/envoy and <tls-dir>/ca hold a valid client pair. No API,
// no credentials; this module's imports stay on node:fs and the check module for start-up speed.
import { join } from 'node:path'
import type { BootstrapContext } from './context.ts'
import { envoyPairProbe, waitForFiles, waitOptionsFor } from './wait-for-files.ts'

export async function runEnvoyRole(config: { readonly tlsDir: string; readonly waitTimeoutMs: number }, ctx: BootstrapContext): Promise<void> {
  const { clock, log } = ctx
  const deadline = clock.now() + config.waitTimeoutMs
  log(`role envoy: waiting for a valid Envoy certificate in ${join(config.tlsDir, 'envoy')} and CA in ${join(config.tlsDir, 'ca')}`)
  await waitForFiles('the Envoy certificate files', envoyPairProbe(config.tlsDir, () => new Date(clock.now())), waitOptionsFor(ctx, deadline, config.waitTimeoutMs))
}
