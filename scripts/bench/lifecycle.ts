// `npm run bench -- lifecycle`: the certificate-lifecycle simulation's figures (test/sim): its wall
// time for ten simulated years, and the API requests per hour per Contour pod in steady state.
import { MemorySecrets } from '../../test/bootstrap/memory-store.ts'
import { describeFigures, runWorld } from '../../test/sim/run-world.ts'

export async function benchLifecycle(years = Number(process.env.SIM_YEARS ?? 10)): Promise<void> {
  const mem = new MemorySecrets()
  const { figures, wallMs } = await runWorld(mem.view('bench', async () => undefined), { years })
  console.log(`\n## certificate lifecycle simulation (${years} simulated years, in-memory Secrets API, real TLS 1.3 handshakes under libfaketime)`)
  for (const line of describeFigures(figures, wallMs)) console.log(`- ${line}`)
}
