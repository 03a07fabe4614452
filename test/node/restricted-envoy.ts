// Under Pod Security "restricted" (and the injection label) the Envoy side runs too: the upstream
// v1.33.6 Envoy DaemonSet's pod with the restricted securityContext on every container and its
// hostPorts dropped (restricted forbids them), next to the restricted Contour pod, which gets
// Contour's CRDs and its upstream ClusterRole and Role so that `contour serve` serves xDS, and a
// `contour` Service. The chart's webhook injects both; the stand-in in the Envoy pod completes
// xDS over mutual TLS 1.3 and the pod is Ready.
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { V1Pod } from '@kubernetes/client-node'
import type { Test } from 'tap'
import { parseAllDocuments } from 'yaml'
import { Binaries } from '../../scripts/cluster/paths.ts'
import { waitFor, type Log } from '../../scripts/cluster/wait.ts'
import { Annotations, INIT_CONTAINER_NAME } from '../../src/core/injection/types.ts'
import { contourFixturesDir } from '../core/injection/support/load-upstream-pods.ts'
import { loadRelease } from '../e2e/contour-manifests.ts'
import type { TestCluster } from '../helpers/cluster.ts'
import { checkStandin } from './envoy-standin.ts'
import { RESTRICTED_CONTAINER } from './workloads.ts'

interface RbacDoc { kind?: string; metadata?: { name?: string }; rules?: unknown[] }

const isReady = (pod: V1Pod) => pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true
const statusOf = (pod: V1Pod, name: string) => [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])].find((s) => s.name === name)

/** What `contour serve` needs to build its DAG and serve xDS: the CRDs and the manifest's own RBAC, bound in `ns`. */
export async function grantContourServe(c: TestCluster, ns: string, log: Log): Promise<() => Promise<void>> {
  const crds = await c.kubectl(['apply', '--server-side', '-f', Binaries.contourCrds], { timeoutMs: 120_000 })
  if (crds.code !== 0) throw new Error(`Contour's CRDs: ${crds.stderr}`)
  await c.kubectl(['wait', '--for=condition=Established', 'crd', '--all', '--timeout=60s'], { timeoutMs: 90_000 })
  const docs = parseAllDocuments(await readFile(join(contourFixturesDir, 'v1.33.6', 'contour.yaml'), 'utf8')).map((d) => d.toJS() as RbacDoc | null)
  const rules = (kind: string) => docs.find((d) => d?.kind === kind && d.metadata?.name === 'contour')?.rules ?? []
  const name = `contour-${ns}`
  const subjects = [{ kind: 'ServiceAccount', name: 'contour', namespace: ns }]
  const rbac = '/apis/rbac.authorization.k8s.io/v1'
  await c.api.call('POST', `${rbac}/clusterroles`, { metadata: { name }, rules: rules('ClusterRole') })
  await c.api.call('POST', `${rbac}/clusterrolebindings`, { metadata: { name }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name }, subjects })
  await c.api.call('POST', `${rbac}/namespaces/${ns}/roles`, { metadata: { name: 'contour' }, rules: rules('Role') })
  await c.api.call('POST', `${rbac}/namespaces/${ns}/rolebindings`, { metadata: { name: 'contour' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'contour' }, subjects })
  log(`granted contour serve in ${ns} the manifest's ClusterRole and Role`)
  return async () => {
    await c.api.raw('DELETE', `${rbac}/clusterrolebindings/${name}`)
    await c.api.raw('DELETE', `${rbac}/clusterroles/${name}`)
  }
}

/** The upstream Envoy pod under restricted: every container restricted, no hostPorts, local images. */
export function restrictedEnvoyPod(ns: string, images: { contour: string; envoy: string }): V1Pod {
  const workload = loadRelease('v1.33.6', ns, { asShipped: true }).workloads.find((w) => w.kind === 'DaemonSet')
  if (workload === undefined) throw new Error('v1.33.6 has no Envoy DaemonSet')
  const pod = structuredClone(workload.pod)
  pod.metadata = { ...pod.metadata, name: 'envoy-restricted' }
  for (const container of [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])]) {
    container.image = container.name === 'envoy' ? images.envoy : images.contour
    container.securityContext = RESTRICTED_CONTAINER
    for (const port of container.ports ?? []) delete port.hostPort
  }
  return pod
}

export async function testRestrictedEnvoy(t: Test, c: TestCluster, ns: string, images: { contour: string; envoy: string }, log: Log): Promise<void> {
  await c.api.call('POST', `/api/v1/namespaces/${ns}/services`, { metadata: { name: 'contour' }, spec: { selector: { app: 'contour' }, ports: [{ name: 'xds', port: 8001, targetPort: 8001 }] } })
  const created = await c.api.raw<V1Pod & { message?: string }>('POST', `/api/v1/namespaces/${ns}/pods`, restrictedEnvoyPod(ns, images))
  t.equal(created.status, 201, `the Envoy pod is admitted under Pod Security "restricted"${created.status === 201 ? '' : `: ${created.body.message ?? ''}`}`)
  t.match(created.body.metadata?.annotations?.[Annotations.status], /^injected; role=envoy; replaced=envoycert;/, 'and taken over by the chart\'s webhook')
  const pod = await waitFor('the restricted Envoy pod Ready', async () => {
    const pod = await c.api.call<V1Pod>('GET', `/api/v1/namespaces/${ns}/pods/envoy-restricted`)
    if (isReady(pod)) return pod
    throw new Error(`${pod.status?.phase ?? ''} ${[...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])].map((s) => `${s.name}=${s.state?.waiting?.reason ?? (s.state?.terminated ? `exit ${s.state.terminated.exitCode}` : s.ready ? 'ready' : 'running')}`).join(' ')}`)
  }, { timeoutMs: 120_000, intervalMs: 250, log }).catch((err: Error) => err)
  if (pod instanceof Error) return void t.fail(pod.message)
  t.equal(statusOf(pod, INIT_CONTAINER_NAME)?.state?.terminated?.exitCode, 0, 'bootstrap-tls --role=envoy exited 0')
  t.equal(statusOf(pod, 'envoy-initconfig')?.state?.terminated?.exitCode, 0, 'the real contour bootstrap exited 0')
  t.pass('the Envoy pod is Ready: its stand-in completed an xDS exchange with the restricted Contour pod')
  await checkStandin(t, c, ns, pod, log)
}
