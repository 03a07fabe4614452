// `bootstrap-tls --role=contour --sidecar` in process against the fake apiserver (HTTPS, the real
// node:https store) with a fake kubelet projecting the Secrets: the first pass creates the set and
// waits for the mounts, then the process stays, polls with GETs only, carries out a rotate request
// an admin put on the CA Secret (trust, then leaves), keeps --probe passing, exits 0 on SIGTERM.
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { ExitCodes } from '../../src/bootstrap/exit-codes.ts'
import { runBootstrapTls } from '../../src/bootstrap/main.ts'
import { startFakeApiServer } from '../helpers/fake-apiserver.ts'
import { startFakeKubelet } from './fake-kubelet.ts'
import { recordingIO } from './fake-io.ts'
import { RequestAnnotations } from '../../src/bootstrap/secret-model.ts'
import { DEFAULT_NAMES, secretAdmin } from './secret-admin.ts'

const api = await startFakeApiServer()
t.teardown(() => api.close())

async function until(what: string, ok: () => boolean, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

t.test('stays after the first pass, rotates on request while running, exits 0 on SIGTERM', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sidecar-role-'))
  const kubeconfig = await api.writeKubeconfig(dir)
  const namespace = 'sidecar'
  const tls = join(dir, 'tls')
  const admin = secretAdmin(kubeconfig, namespace)
  const kubelet = startFakeKubelet(admin, tls, { contour: DEFAULT_NAMES.contour, ca: DEFAULT_NAMES.ca }, 30)
  t.teardown(() => kubelet.stop())
  const stop = new AbortController()
  const io = recordingIO({}, stop.signal)
  const running = runBootstrapTls(['--role=contour', '--sidecar', '--poll-interval=150ms', '--propagation-delay=300ms', `--kubeconfig=${kubeconfig}`, `--namespace=${namespace}`, `--tls-dir=${tls}`, '--wait-timeout=20s'], io, { pollMs: 20 })
  let exited: number | undefined
  void running.then((code) => (exited = code))

  await until('the sidecar loop runs', () => io.err().includes('sidecar: the set is in place') || exited !== undefined)
  t.equal(exited, undefined, 'still running after the set is in place', { stderr: io.err() })
  t.match(io.err(), /created a new set/)
  const afterStart = api.requests.length
  await until('a few passes', () => api.requests.length >= afterStart + 12)
  const polls = api.requests.slice(afterStart)
  t.same([...new Set(polls.map((r) => r.verb))], ['get'], 'steady state: GETs only')
  t.notMatch(io.err().split('sidecar: the set is in place')[1] ?? '', /using the existing set/, 'passes that change nothing log nothing')

  // `kubectl annotate secret contour-ca contour-tls-injection/rotate=now`: one write, seen on the next poll.
  const ca = await admin.get(DEFAULT_NAMES.ca)
  if (ca?.metadata === undefined) return t.fail('no CA Secret')
  await admin.put({ ...ca, metadata: { ...ca.metadata, annotations: { ...ca.metadata.annotations, [RequestAnnotations.rotate]: 'now' } } })
  await until('staged', () => /sidecar: the set changed \(staged\)/.test(io.err()))
  await until('switched', () => /sidecar: the set changed \(switched\)/.test(io.err()))
  t.pass('the rotate request was carried out in phases while the pod ran: trust, then the leaves')
  // The kubelet brings the rotated set to the mounts; the startup probe's check passes on them.
  const probe = recordingIO()
  let probed: number = ExitCodes.NOT_READY
  for (let i = 0; i < 100 && probed !== ExitCodes.OK; i++) {
    probed = await runBootstrapTls(['--probe', `--tls-dir=${tls}`], probe)
    if (probed !== ExitCodes.OK) await new Promise((r) => setTimeout(r, 30))
  }
  t.equal(probed, ExitCodes.OK, '--probe passes on the mounted files', { stderr: probe.err() })

  const stopping = Date.now()
  stop.abort('SIGTERM')
  t.equal(await running, ExitCodes.OK, 'SIGTERM: exit 0', { stderr: io.err() })
  t.ok(Date.now() - stopping < 1000, `stopped in ${Date.now() - stopping} ms`)
  t.match(io.err(), /sidecar: stopped by a signal; exiting\n$/)
  t.notMatch(io.err(), /PRIVATE KEY/)
})

t.test('without --sidecar the role exits after the first pass, as before', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sidecar-role-'))
  const kubeconfig = await api.writeKubeconfig(dir)
  const tls = join(dir, 'tls')
  const kubelet = startFakeKubelet(secretAdmin(kubeconfig, 'init'), tls, { contour: DEFAULT_NAMES.contour, ca: DEFAULT_NAMES.ca }, 30)
  t.teardown(() => kubelet.stop())
  const io = recordingIO()
  t.equal(await runBootstrapTls(['--role=contour', `--kubeconfig=${kubeconfig}`, '--namespace=init', `--tls-dir=${tls}`, '--wait-timeout=20s'], io, { pollMs: 20 }), ExitCodes.OK, 'exit code', { stderr: io.err() })
  t.notMatch(io.err(), /sidecar: /)
})
