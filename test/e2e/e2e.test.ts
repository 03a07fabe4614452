// The end-to-end suite: one real control plane (etcd, kube-apiserver, kube-controller-manager,
// the webhook from the working tree) for every case, started here and stopped at the end.
// Missing binaries fail the suite (never skip it): run `bash scripts/build-binaries.sh`.
import t from 'tap'
import { startClusterFor } from '../helpers/cluster.ts'
import { testInjection, testOptOutAndDryRun } from './injection.ts'
import { testFailurePolicy } from './failure-policy.ts'
import { testLeastPrivilege } from './least-privilege.ts'
import { testPodSecurity } from './pod-security.ts'
import { testRealContour } from './real-contour.ts'
import { testSecrets } from './secrets.ts'
import { testSidecarMode } from './sidecar-mode.ts'
import { testTakeOver } from './take-over.ts'
import { testRotation } from './rotation.ts'

// The runner's per-file timeout (package.json) is for unit tests; a cold control plane plus
// every case takes a few minutes on two cores.
t.setTimeout(15 * 60_000)

const started = Date.now()
const log = (line: string) => process.stderr.write(`# e2e +${Math.round((Date.now() - started) / 1000)}s ${line}\n`)

const clusterRun = await startClusterFor(t, log)
if (clusterRun !== undefined) {
  const { cluster: c, stop } = clusterRun

  await t.test('1. injection through real admission', (t) => testInjection(t, c, log))
  await t.test('1b. opt-out annotation and server-side dry run', (t) => testOptOutAndDryRun(t, c))

  await t.test('2. Secrets for real', (t) => testSecrets(t, c))
  await t.test('3. least privilege, checked by the apiserver', (t) => testLeastPrivilege(t, c))
  await t.test('4. real Contour with the injected flags', (t) => testRealContour(t, c, log))
  await t.test('5. Pod Security restricted', (t) => testPodSecurity(t, c))
  await t.test('5b. sidecar mode: the native sidecar admitted under restricted', (t) => testSidecarMode(t, c, log))
  await t.test('6. failurePolicy Fail', (t) => testFailurePolicy(t, c))
  await t.test('7. taking over certgen\'s TLS: contour.yaml as shipped, the provisioner, the official chart', (t) => testTakeOver(t, c, log))
  await t.test('8. certificate lifecycle: the simulation against the real apiserver, and real contour serve across a rotation', (t) => testRotation(t, c, log))

  await t.test('the suite stops every process it started', async (t) => {
    t.same(await stop(), [], 'nothing left running')
  })
}
