// `npm run bench -- lifecycle`: the certificate-lifecycle simulation's figures (test/sim): its wall
// time for ten simulated years, and the API requests per hour per Contour pod in steady state.
import { MemorySecrets } from '../../test/bootstrap/memory-store.ts'
import { describeFigures, runWorld } from '../../test/sim/run-world.ts'

export async function benchLifecycle(years = Number(process.env.SIM_YEARS ?? 10)): Promise<void> {
  const mem = new MemorySecrets()
  const { figures, wallMs } = await runWorld(mem.view('bench', async () => undefined), { years })
  console.log(`\n## certificate lifecycle simulation (${years} simulated years, in-memory Secrets API, real TLS 1.3 handshakes under libfaketime)`)
  for (const line of describeFigures(figures, wallMs)) console.log(`- ${line}`)
  // Steady state: one poll of the CA Secret per poll interval, a full pass every 6 hours.
  const polls = 3_600_000 / (10 * 60_000)
  console.log(`- steady state per Contour pod: ${polls} polls/h x 1 GET + a full pass (4 GETs) every 6 h = ${(polls + 4 / 6).toFixed(2)} requests/h (goal < 10)`)
}
