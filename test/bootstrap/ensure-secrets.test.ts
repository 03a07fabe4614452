// The Secret behaviours against the fake apiserver (HTTPS, the real node:https store), plus what only a
// fake can stage: an apiserver that is not listening yet, and the in-cluster configuration.
import { mkdtemp, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { ExitCodes } from '../../src/bootstrap/exit-codes.ts'
import { runBootstrapTls } from '../../src/bootstrap/main.ts'
import { startFakeApiServer } from '../helpers/fake-apiserver.ts'
import { recordingIO } from './fake-io.ts'
import { defineSecretBehaviours } from './secret-behaviours.ts'

const api = await startFakeApiServer({ latencyMs: { min: 0, max: 8 } })
t.teardown(() => api.close())
const dir = await mkdtemp(join(tmpdir(), 'fake-apiserver-'))
const kubeconfigPath = await api.writeKubeconfig(dir)
let n = 0

defineSecretBehaviours(t, {
  kubeconfigPath,
  newNamespace: async () => `case-${++n}`,
  faults: { inject: (f) => api.inject(f), clear: () => api.clearFaults(), serviceAccount: api.serviceAccount },
})

t.test('connection refused at first: retried until the apiserver listens', async (t) => {
  const port = await freePort()
  const tmp = await mkdtemp(join(tmpdir(), 'late-apiserver-'))
  const late = await startFakeApiServer({ port })
  const kubeconfig = await late.writeKubeconfig(tmp)
  await late.close()
  const io = recordingIO()
  const running = runBootstrapTls(['--role=contour', `--kubeconfig=${kubeconfig}`, '--namespace=late', `--tls-dir=${tmp}`, '--wait-timeout=2s'], io, { pollMs: 20 })
  await new Promise((r) => setTimeout(r, 700))
  const again = await startFakeApiServer({ port, certificate: late.certificate, token: late.token })
  t.teardown(() => again.close())
  // No kubelet here: the run ends at the file wait, after the Secrets were written.
  const code = await running
  t.equal(code, ExitCodes.WAIT_TIMEOUT, 'exit code', { stderr: io.err() })
  t.match(io.err(), /ECONNREFUSED; retrying in/)
  t.ok(again.secret('late', 'contour-ca'), 'the Secrets were created once the apiserver listened')
})

t.test('in-cluster: service account token, CA and namespace file; 403 names the account from the token', async (t) => {
  const sa = await mkdtemp(join(tmpdir(), 'serviceaccount-'))
  const inCluster = await startFakeApiServer({ serviceAccount: 'projectcontour:contour' })
  t.teardown(() => inCluster.close())
  await writeFile(join(sa, 'ca.crt'), inCluster.certificate?.caCert ?? '')
  await writeFile(join(sa, 'token'), inCluster.token)
  await writeFile(join(sa, 'namespace'), 'projectcontour')
  inCluster.inject({ verb: 'get', status: 403 })
  const env = { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(inCluster.port) }
  const io = recordingIO(env)
  const code = await runBootstrapTls(['--role=contour', `--tls-dir=${sa}`, '--wait-timeout=2s'], io, { serviceAccountDir: sa })
  t.equal(code, ExitCodes.FORBIDDEN, 'exit code', { stderr: io.err() })
  t.match(io.err(), /namespace projectcontour, .*credentials from the service account \(service account "projectcontour:contour"\)/)
  t.match(io.err(), /ERR_FORBIDDEN: get Secret contour-(ca|tls)|envoy-tls in namespace projectcontour: 403 Forbidden: service account "projectcontour:contour" may not "get" resource "secrets" in namespace "projectcontour"/)
  t.ok(inCluster.requests.every((r) => r.namespace === 'projectcontour'), 'namespace from the service account file')
})

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.listen(0, '127.0.0.1', () => {
      const address = s.address()
      const port = typeof address === 'object' && address ? address.port : 0
      s.close(() => resolve(port))
    })
    s.on('error', reject)
  })
}
