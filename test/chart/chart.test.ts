// The Helm chart: lint, deterministic rendering, the values schema, RBAC and the webhook
// configuration against the project's contracts (no cluster), then the same manifests against a
// real kube-apiserver (local control plane): server-side dry runs, Pod Security "restricted",
// the precreate hook's command, and an install served by a webhook running here. Missing
// binaries fail (never skip) the suite: run `bash scripts/build-binaries.sh`.
import t from 'tap'
import { startClusterFor } from '../helpers/cluster.ts'
import { removeHelmHome, requireHelm, template } from './helm.ts'
import { prepareCluster, testDryRunServer, testInstallWithLocalWebhook, testPodSecurity, testPrecreateHook } from './installed.ts'
import { testBootstrapMode, testDeterministic, testLint, testPrometheusRule, testRbac, testSchema, testWebhookConfiguration, testWorkloads } from './rendered.ts'

t.setTimeout(10 * 60_000)
const started = Date.now()
const log = (line: string) => process.stderr.write(`# chart +${Math.round((Date.now() - started) / 1000)}s ${line}\n`)

let helmOk = true
try {
  await requireHelm()
} catch (err) {
  helmOk = false
  t.fail((err as Error).message)
}

if (helmOk) {
  await t.test('helm lint is clean', testLint)
  await t.test('helm template twice gives identical output', testDeterministic)
  await t.test('the values schema refuses wrong types, unknown policies and unknown keys', testSchema)
  await t.test('injection.bootstrapMode: auto follows the Kubernetes version, and reaches the webhook', testBootstrapMode)
  await t.test('RBAC: Contour gets exactly its Secrets, Envoy nothing, the webhook its own objects', testRbac)
  await t.test('the MutatingWebhookConfiguration is the design\'s and the e2e helper\'s', testWebhookConfiguration)
  await t.test('workloads: restricted security contexts, probes, drain, names that match', testWorkloads)
  await t.test('the optional PrometheusRule alerts on the lifecycle metrics the sidecar serves', testPrometheusRule)

  await t.test('against a real kube-apiserver', async (t) => {
    const started = await startClusterFor(t, log)
    if (started === undefined) return
    const { cluster: c, stop } = started
    const ctx = { cluster: c, namespace: await prepareCluster(c), log }
    await t.test('helm install --dry-run=server is accepted in every mode', (t) => testDryRunServer(t, ctx))
    await t.test('the pod templates pass Pod Security "restricted" as the apiserver enforces it', async (t) => testPodSecurity(t, ctx, (await template({ 'secrets.precreate': true })).objects))
    await t.test('the precreate hook\'s command and RBAC create the Secrets for real', (t) => testPrecreateHook(t, ctx))
    await t.test('a real install, served by a local webhook as the chart\'s ServiceAccount', (t) => testInstallWithLocalWebhook(t, ctx))
    await t.test('the suite stops every process it started', async (t) => {
      t.same(await stop(), [], 'nothing left running')
    })
  })
  await removeHelmHome()
}
