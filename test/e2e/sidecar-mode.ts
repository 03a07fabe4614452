// 5b. Sidecar mode through real admission: a second webhook from the working tree, started with
// --bootstrap-mode=sidecar and registered for namespaces with a label of its own. In a namespace
// enforcing Pod Security "restricted", kube-apiserver 1.34 admits the injected Contour pod, whose
// bootstrap-tls is a native sidecar (restartPolicy Always, exec startup probe), and stores it as
// patched; the Envoy pod is injected as in init mode. The apiserver's validation is real: the same
// startup probe on a plain init container is refused.
import type { V1Container, V1Pod } from '@kubernetes/client-node'
import type { Test } from 'tap'
import { componentSpec, DEFAULT_WEBHOOK_RUN } from '../../scripts/cluster/components.ts'
import { freePort } from '../../scripts/cluster/health.ts'
import { waitFor, type Log } from '../../scripts/cluster/wait.ts'
import { buildWebhookConfiguration } from '../../scripts/cluster/webhook-configuration.ts'
import { Annotations, INIT_CONTAINER_NAME } from '../../src/core/injection/types.ts'
import type { TestCluster } from '../helpers/cluster.ts'
import { dryRun, RESTRICTED, shapes } from './pod-security.ts'

const SIDECAR_LABEL = { key: 'contour-tls-injection-e2e/bootstrap-mode', value: 'sidecar' }
const CONFIGURATION = 'contour-tls-injector-sidecar-e2e'

export async function testSidecarMode(t: Test, cluster: TestCluster, log: Log): Promise<void> {
  const port = await freePort()
  const spec = componentSpec('webhook', { paths: cluster.info.paths, ports: { ...cluster.info.ports, webhook: port }, pki: cluster.info.pki, webhook: DEFAULT_WEBHOOK_RUN })
  const proc = await cluster.startDaemon('webhook-sidecar', [...spec.argv, '--bootstrap-mode=sidecar'])
  t.teardown(() => cluster.stopDaemon('webhook-sidecar', proc))
  await waitFor('the sidecar-mode webhook', async () => (await spec.healthy(), true), { timeoutMs: 30_000, log, hint: `see ${proc.log}` })
  const url = new URL(cluster.info.webhookUrl)
  url.port = String(port)
  const mwc = buildWebhookConfiguration({ name: CONFIGURATION, client: { url: url.href, caBundlePem: cluster.info.pki.caCert } }) as { webhooks: Array<Record<string, unknown>> }
  for (const webhook of mwc.webhooks) webhook.namespaceSelector = { matchLabels: { [SIDECAR_LABEL.key]: SIDECAR_LABEL.value } }
  await cluster.api.apply(`/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${CONFIGURATION}`, mwc)
  t.teardown(() => cluster.api.raw('DELETE', `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${CONFIGURATION}`))
  const ns = await cluster.createNamespace('sidecar', { ...RESTRICTED, [SIDECAR_LABEL.key]: SIDECAR_LABEL.value })
  const { contour, envoy } = shapes(true)
  // The configuration takes effect once the apiserver's informer has seen it.
  const admitted = await waitFor('the sidecar-mode webhook to be called', async () => {
    const r = await dryRun(cluster, ns, contour)
    if (!r.admitted) throw new Error(r.message)
    if (r.pod?.metadata?.annotations?.[Annotations.status] === undefined) throw new Error('not injected yet')
    return r.pod
  }, { timeoutMs: 30_000, log })

  await t.test('a restricted-compliant Contour pod is admitted with its native sidecar', async (t) => {
    const sidecar = admitted.spec?.initContainers?.[0]
    t.equal(sidecar?.name, INIT_CONTAINER_NAME)
    checkSidecar(t, sidecar)
    // Created for real (not only a dry run): stored as patched, sidecar fields and all.
    const created = await cluster.api.call<V1Pod>('POST', `/api/v1/namespaces/${ns}/pods`, contour)
    const stored = await cluster.api.call<V1Pod>('GET', `/api/v1/namespaces/${ns}/pods/${created.metadata?.name ?? ''}`)
    t.match(stored.metadata?.annotations?.[Annotations.status], /^injected; role=contour;/)
    checkSidecar(t, stored.spec?.initContainers?.[0])
    t.same(stored.spec?.initContainers?.[0]?.startupProbe, admitted.spec?.initContainers?.[0]?.startupProbe, 'the stored probe is the admitted one')
  })

  await t.test('an Envoy pod is injected as in init mode: no sidecar, no credentials', async (t) => {
    const r = await dryRun(cluster, ns, envoy)
    t.ok(r.admitted, r.message)
    const init = r.pod?.spec?.initContainers?.[0]
    t.equal(init?.name, INIT_CONTAINER_NAME)
    t.same(init?.args, ['bootstrap-tls', '--role=envoy'])
    t.equal(init?.restartPolicy, undefined, 'a plain init container')
    t.equal(init?.startupProbe, undefined, 'no startup probe')
    t.equal(r.pod?.spec?.automountServiceAccountToken, false, 'still no token')
  })

  await t.test('Pod Security still judges the whole pod: a non-compliant Contour pod is refused', async (t) => {
    const r = await dryRun(cluster, ns, shapes(false).contour)
    t.notOk(r.admitted)
    t.match(r.message, /violates PodSecurity "restricted/)
  })

  await t.test('the apiserver\'s validation is real: a startup probe needs restartPolicy Always', async (t) => {
    const plain = structuredClone(admitted)
    const first = plain.spec?.initContainers?.[0]
    if (first !== undefined) delete first.restartPolicy
    if (plain.metadata !== undefined) plain.metadata = { name: 'not-a-sidecar' }
    // A namespace without the sidecar label: no webhook changes this pod.
    const other = await cluster.createNamespace('sidecar-plain', RESTRICTED)
    const r = await dryRun(cluster, other, plain)
    t.notOk(r.admitted, 'refused')
    t.match(r.message, /startupProbe.*may not be set for init containers without restartPolicy=Always/)
  })
}

function checkSidecar(t: Test, init: V1Container | undefined): void {
  t.equal(init?.restartPolicy, 'Always', 'restartPolicy Always')
  t.ok(init?.args?.includes('--sidecar'), 'bootstrap-tls --sidecar')
  t.match(init?.startupProbe, { exec: { command: ['/usr/local/bin/node', '--max-semi-space-size=2', '/app/dist/cli.js', 'bootstrap-tls', '--probe'] }, periodSeconds: 2, failureThreshold: 150 }, 'the exec startup probe')
  t.match(init?.securityContext, { allowPrivilegeEscalation: false, runAsNonRoot: true, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } })
}
