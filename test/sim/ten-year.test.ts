// Ten simulated years of the certificate lifecycle against the in-memory Secrets API, on a fake
// clock, with real TLS 1.3 handshakes at the simulated time (see world.ts for what is simulated
// and how failures are classed). The same run, shortened, against a real kube-apiserver is in
// the end-to-end suite (test/e2e/rotation.ts).
import t from 'tap'
import { stateFromSecrets } from '../../src/bootstrap/secret-model.ts'
import { checkCertificateSet } from '../../src/core/certs/check-set.ts'
import { currentSet } from '../../src/core/rotation/trust-state.ts'
import { MemorySecrets } from '../bootstrap/memory-store.ts'
import { describeFigures, runWorld, SIM_DEFAULTS } from './run-world.ts'

// Ten years take about a minute and a half on two busy cores: more than the runner's per-file default.
t.setTimeout(10 * 60_000)

const YEARS = Number(process.env.SIM_YEARS ?? 10)

t.test(`${YEARS} simulated years from a certgen install: migration, renewals, rotations, a revocation, crashes; no failed handshake outside the revocation`, async (t) => {
  const mem = new MemorySecrets()
  const { figures, wallMs } = await runWorld(mem.view('sim', async () => undefined), { years: YEARS, migration: true })
  for (const line of describeFigures(figures, wallMs)) t.comment(`figure: ${line}`)
  t.equal(figures.failures, 0, 'no handshake between pods that can coexist failed', { samples: figures.failureSamples })
  t.ok(figures.handshakes > 1000 * YEARS / 10, `real handshakes happened (${figures.handshakes})`)
  t.ok(figures.migrationHandshakes > 0, `old pods on certgen's files and new pods handshook during the migration (${figures.migrationHandshakes})`)
  t.match(mem.secrets.get('cacert')?.annotations['contour-tls-injection/trust-added'], /^\["[0-9a-f]{64}"/, 'certgen\'s Secrets record that our CA was added to their trust')
  t.ok(figures.renewals >= Math.floor(YEARS / 4), `renewals happened by time alone (${figures.renewals})`)
  t.ok(figures.rotationsDone > 0 && figures.rotationsRequested > 0, 'rotations were asked for and staged')
  t.equal(figures.revocations, SIM_DEFAULTS.revocations, 'the revocation was asked for')
  t.ok(figures.revocationWindowFailures > 0, 'the revocation\'s blip is real (and counted apart)')
  t.ok(figures.crashesMidStep > 0, `replicas crashed in the middle of a step (${figures.crashesMidStep})`)
  t.ok((figures.steps.switch ?? 0) > 0 && (figures.steps.drop ?? 0) > 0, 'every step ran: add-trust, switch, drop')
  t.ok(figures.apiCalls / (figures.simulatedDays * 24) / SIM_DEFAULTS.contourReplicas < 10, 'fewer than 10 API requests per hour per Contour pod')
  const loaded = stateFromSecrets({ ca: mem.secrets.get('contour-ca'), contour: mem.secrets.get('contour-tls'), envoy: mem.secrets.get('envoy-tls') })
  t.ok('state' in loaded && checkCertificateSet(currentSet(loaded.state), { now: new Date(Date.now() + YEARS * 365 * 86_400_000), renewFraction: 0 }).ok, 'the Secrets hold a valid set at the end')
})
