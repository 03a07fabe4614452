// The chart installed with `helm install` from the working tree, on the real node: the webhook
// Deployment runs there (the product image, imported into the node's containerd by `up`), keeps
// its own serving certificate, and the apiserver calls it through its Service. The cluster's own
// loopback webhook is stopped and its configuration deleted first, so every admission from here
// on is the chart's. Then its failure policy with the Deployment scaled to zero.
import { X509Certificate } from 'node:crypto'
import type { V1MutatingWebhookConfiguration, V1Pod, V1Secret } from '@kubernetes/client-node'
import type { Test } from 'tap'
import { NODE_NAME } from '../../scripts/cluster/pki.ts'
import { waitFor, type Log } from '../../scripts/cluster/wait.ts'
import { DEFAULT_IMAGE } from '../../src/version.ts'
import { Annotations } from '../../src/core/injection/types.ts'
import { CHART_DIR, helm } from '../chart/helm.ts'
import type { TestCluster } from '../helpers/cluster.ts'
import { contourPod } from '../e2e/injection.ts'

export const CHART_NAMESPACE = 'cti-system'
const RELEASE = 'contour-tls-injector'
const MWC = `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${RELEASE}`
const DEPLOYMENT = `/apis/apps/v1/namespaces/${CHART_NAMESPACE}/deployments/${RELEASE}`

const isReady = (pod: V1Pod) => pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true

export async function webhookPods(c: TestCluster): Promise<V1Pod[]> {
  return (await c.api.call<{ items: V1Pod[] }>('GET', `/api/v1/namespaces/${CHART_NAMESPACE}/pods?labelSelector=app.kubernetes.io%2Fname%3D${RELEASE}`)).items
}

/** The chart's webhook pods' logs, concatenated. */
export async function webhookLogs(c: TestCluster): Promise<string> {
  const logs = await Promise.all((await webhookPods(c)).map(async (p) => (await c.kubectl(['-n', CHART_NAMESPACE, 'logs', p.metadata?.name ?? '', '-c', 'webhook'])).stdout))
  return logs.join('\n')
}

/**
 * `helm install` with the chart's defaults (target namespace projectcontour, which must exist
 * first, self-managed serving certificate, two replicas, failurePolicy Fail).
 */
export async function installChartOnNode(t: Test, c: TestCluster, log: Log): Promise<void> {
  await c.setWebhookRunning(false)
  t.equal((await c.api.raw('DELETE', MWC)).status, 200, 'the cluster\'s loopback webhook is stopped and its configuration deleted')
  const installed = await helm(['install', RELEASE, CHART_DIR, '--namespace', CHART_NAMESPACE, '--create-namespace', '--kubeconfig', c.kubeconfig, '--wait', '--timeout=180s'], { timeoutMs: 200_000 })
  t.equal(installed.code, 0, 'helm install charts/contour-tls-injector --wait (the working tree\'s chart, default values)', { stderr: installed.stderr })

  const deployment = await c.api.call<{ spec?: { template?: { spec?: { containers?: Array<{ image?: string }> } } }; status?: { readyReplicas?: number } }>('GET', DEPLOYMENT)
  t.equal(deployment.status?.readyReplicas, 2, 'the webhook Deployment is 2/2 Ready')
  t.equal(deployment.spec?.template?.spec?.containers?.[0]?.image, DEFAULT_IMAGE, `its image is the chart's default ${DEFAULT_IMAGE} (scripts/build-image.sh's, tagged so in containerd)`)
  const pods = await webhookPods(c)
  t.ok(pods.length === 2 && pods.every((p) => p.spec?.nodeName === NODE_NAME && isReady(p)), 'both webhook pods run on the node and are Ready (their /readyz over HTTPS)')

  const mwc = await waitFor('the webhook to publish its CA in the caBundle', async () => {
    const mwc = await c.api.call<V1MutatingWebhookConfiguration>('GET', MWC)
    return mwc.webhooks?.[0]?.clientConfig.caBundle !== undefined ? mwc : undefined
  }, { timeoutMs: 60_000, log })
  const client = mwc.webhooks?.[0]?.clientConfig
  t.same(client?.service && { name: client.service.name, namespace: client.service.namespace }, { name: RELEASE, namespace: CHART_NAMESPACE }, 'the apiserver calls it through its Service')
  t.equal(client?.url, undefined, 'not by URL')
  const serving = await c.api.call<V1Secret>('GET', `/api/v1/namespaces/${CHART_NAMESPACE}/secrets/${RELEASE}-serving-cert`)
  const leaf = new X509Certificate(Buffer.from(serving.data?.['tls.crt'] ?? '', 'base64'))
  const ca = new X509Certificate(Buffer.from(client?.caBundle ?? '', 'base64').toString('utf8'))
  t.ok(leaf.verify(ca.publicKey), 'the serving certificate it keeps in its Secret is signed by the CA in the caBundle')
  t.match(leaf.subjectAltName, `DNS:${RELEASE}.${CHART_NAMESPACE}.svc`, 'for the Service\'s name')
}

/** failurePolicy Fail with the webhook Deployment at zero replicas; then back at two. */
export async function testFailurePolicyOnNode(t: Test, c: TestCluster, namespace: string, log: Log): Promise<void> {
  const scale = async (replicas: number) => {
    await c.api.call('PATCH', `${DEPLOYMENT}/scale`, { spec: { replicas } }, 'application/merge-patch+json')
    await waitFor(`the webhook Deployment at ${replicas} ready pods`, async () => {
      const pods = await webhookPods(c)
      const ready = pods.filter(isReady).length
      // At zero, wait until the pods are gone: kube-proxy sends a Service's traffic to terminating
      // endpoints when it has no ready ones, and a draining webhook still answers.
      if (replicas === 0 ? pods.length === 0 : ready === replicas) return true
      throw new Error(`${pods.length} pods, ${ready} ready`)
    }, { timeoutMs: 120_000, log })
  }
  const create = (name: string) => {
    const pod = contourPod(namespace) as { metadata: { name?: string } }
    pod.metadata.name = name
    return c.api.raw<V1Pod & { message?: string }>('POST', `/api/v1/namespaces/${namespace}/pods?dryRun=All`, pod)
  }
  await c.api.call('POST', `/api/v1/namespaces/${namespace}/serviceaccounts`, { metadata: { name: 'contour' } })
  await scale(0)
  try {
    const refused = await create('contour-while-down')
    t.equal(refused.status, 500, 'with the webhook scaled to zero, a Contour pod in an enabled namespace is refused (failurePolicy Fail)')
    t.match(refused.body.message, /failed calling webhook "inject\.contour-tls-injection/, `refused: ${refused.body.message ?? ''}`)
  } finally {
    await scale(2)
  }
  const again = await waitFor('the Service to reach the webhook again', async () => {
    const res = await create('contour-after')
    if (res.status === 201) return res
    throw new Error(`HTTP ${res.status}: ${res.body.message ?? ''}`)
  }, { timeoutMs: 60_000, log })
  t.match(again.body.metadata?.annotations?.[Annotations.status], /^injected/, 'scaled back to two: the same pod is admitted and injected')
}

export async function uninstallChart(c: TestCluster): Promise<void> {
  await helm(['uninstall', RELEASE, '--namespace', CHART_NAMESPACE, '--kubeconfig', c.kubeconfig, '--wait', '--timeout=120s'], { timeoutMs: 150_000 })
}
