// One simulated cluster over `years`, against a Secrets API; prints the figures. Shared by the
// ten-year test (in memory), the shortened run against a real kube-apiserver and the benchmark.
import type { SecretStore } from '../../src/bootstrap/secret-store.ts'
import { startHandshaker } from './handshakes.ts'
import { World, type Figures, type WorldOptions } from './world.ts'

export const SIM_DEFAULTS = {
  seed: 20261203,
  contourReplicas: 2,
  reloadingEnvoys: 3,
  staticEnvoys: 2,
  propagationBoundMs: 90_000,
  propagationDelayMs: 5 * 60_000,
  pollMs: 10 * 60_000,
  meanDaysBetweenRotations: 365,
  revocations: 1,
  meanDaysBetweenContourCrashes: 30,
  meanDaysBetweenEnvoyRestarts: 20,
  meanDaysBetweenReconnects: 7,
  crashMidStep: 0.3,
  namespace: 'sim',
  names: { ca: 'contour-ca', contour: 'contour-tls', envoy: 'envoy-tls' },
} as const

export async function runWorld(api: SecretStore, overrides: Partial<WorldOptions> & { years: number }): Promise<{ figures: Figures; wallMs: number }> {
  const handshaker = await startHandshaker(2)
  const started = performance.now()
  try {
    const world = new World({ ...SIM_DEFAULTS, start: Date.now(), api, handshaker, ...overrides })
    const figures = await world.run()
    return { figures, wallMs: performance.now() - started }
  } finally {
    await handshaker.close()
  }
}

export function describeFigures(f: Figures, wallMs: number): string[] {
  return [
    `simulated ${f.simulatedDays} days in ${(wallMs / 1000).toFixed(1)} s of wall time`,
    `renewals ${f.renewals}, rotations requested ${f.rotationsRequested} (staged ${f.rotationsDone}), revocations ${f.revocations}`,
    `steps completed: ${Object.entries(f.steps).map(([k, v]) => `${k} ${v}`).join(', ')}; largest trust bundle ${f.maxBundle} CAs`,
    `Contour crashes ${f.contourCrashes} (${f.crashesMidStep} in the middle of a step), Envoy restarts ${f.envoyRestarts}, reconnects ${f.reconnects}`,
    `handshakes ${f.handshakes}${f.migrationHandshakes > 0 ? ` (${f.migrationHandshakes} with an old pod of certgen's during the migration)` : ''}: failures ${f.failures}; inside a revocation's window ${f.revocationWindowFailures}; never-reloading Envoys started before the next CA was trusted ${f.neverReloadFailures}`,
    `API calls ${f.apiCalls} (${(f.apiCalls / (f.simulatedDays * 24) / 2).toFixed(2)} per hour per Contour pod)`,
  ]
}
