// 1. Injection through real admission: every Contour release's manifests applied with kubectl
// to an enabled and to an unlabelled namespace; the controllers create the pods; the stored
// pods are checked against the design with the golden test's own checker.
import type { V1Pod } from '@kubernetes/client-node'
import type { Test } from 'tap'
import { Annotations, INIT_CONTAINER_NAME, NAMESPACE_LABEL } from '../../src/core/injection/types.ts'
import { checkInjectedPod } from '../core/injection/support/check-injected-pod.ts'
import { checkTakenOverPod } from '../core/injection/support/check-taken-over-pod.ts'
import { upstreamReplaced } from '../core/injection/support/upstream-variants.ts'
import type { TestCluster } from '../helpers/cluster.ts'
import { loadRelease, RELEASES, type ReleaseManifests } from './contour-manifests.ts'
import { expectRole, normalisePod, waitForPods } from './pods.ts'
import type { Log } from '../../scripts/cluster/wait.ts'

const ENABLED = { [NAMESPACE_LABEL.key]: NAMESPACE_LABEL.value }

async function applyRelease(t: Test, cluster: TestCluster, tag: string, labels: Record<string, string>, log: Log, asShipped: boolean): Promise<{ manifests: ReleaseManifests; pods: Map<string, V1Pod[]> }> {
  const namespace = await cluster.createNamespace(`${Object.keys(labels).length > 0 ? 'on' : 'off'}${asShipped ? '-tls' : ''}-${tag.replace(/\./g, '-')}`, labels)
  const manifests = loadRelease(tag, namespace, { asShipped })
  const applied = await cluster.kubectl(['apply', '-f', '-'], { input: manifests.yaml })
  t.equal(applied.code, 0, `kubectl apply ${tag} in ${namespace}`, { stderr: applied.stderr })
  const expected = new Map(manifests.workloads.map((w) => [`${w.kind}/${w.name}`, w.replicas]))
  return { manifests, pods: await waitForPods(cluster.api, namespace, expected, log) }
}

export async function testInjection(t: Test, cluster: TestCluster, log: Log): Promise<void> {
  const settings = cluster.webhookSettings
  for (const tag of RELEASES) {
    for (const asShipped of [false, true]) {
    await t.test(`Contour ${tag} manifests${asShipped ? ' as shipped (certgen TLS taken over)' : ''}`, async (t) => {
      const [on, off] = await Promise.all([applyRelease(t, cluster, tag, ENABLED, log, asShipped), applyRelease(t, cluster, tag, {}, log, asShipped)])
      for (const workload of on.manifests.workloads) {
        const key = `${workload.kind}/${workload.name}`
        const replaced = upstreamReplaced(workload.pod)
        if (asShipped && replaced.length === 0) continue // v0.15.0 ships without TLS: covered by the first pass
        await t.test(`${key} (${workload.source}${workload.insecureVariant ? ', insecure variant' : ''})`, async (t) => {
          const injected = on.pods.get(key) ?? []
          const plain = off.pods.get(key) ?? []
          t.equal(injected.length, workload.replicas, 'every replica in the enabled namespace was created')
          const twin = plain[0]
          if (twin === undefined) return t.fail('no pod in the unlabelled namespace')
          for (const pod of plain) {
            t.equal(pod.metadata?.annotations?.[Annotations.status], undefined, `unlabelled ${pod.metadata?.name}: no status annotation`)
            t.notOk(pod.spec?.initContainers?.some((c) => c.name === INIT_CONTAINER_NAME), `unlabelled ${pod.metadata?.name}: no bootstrap-tls`)
          }
          const input = normalisePod(twin)
          for (const pod of injected) {
            t.test(`stored pod ${pod.metadata?.name}`, async (t) => {
              const volumes = (pod.spec?.volumes ?? []).filter((v) => v.name.startsWith('contour-tls-injection-'))
              t.ok(volumes.length > 0 && volumes.every((v) => v.secret?.defaultMode === 420), 'Secret volumes keep the API default mode 0644')
              if (replaced.length === 0) checkInjectedPod(t, input, normalisePod(pod), expectRole(workload.pod), settings)
              else checkTakenOverPod(t, input, normalisePod(pod), expectRole(workload.pod), settings, { replaced, secretNames: settings.secretNames })
            })
          }
        })
      }
    })
    }
  }
}

/** A Contour pod the way the v1.33.6 Deployment makes it, with --insecure and no certgen. */
export function contourPod(namespace: string, annotations: Record<string, string> = {}): Record<string, unknown> {
  const workload = loadRelease('v1.33.6', namespace).workloads.find((w) => w.kind === 'Deployment' && w.name === 'contour')
  if (workload === undefined) throw new Error('v1.33.6 has no contour Deployment')
  const pod = structuredClone(workload.pod)
  pod.metadata = { ...pod.metadata, name: `contour-${Math.random().toString(36).slice(2, 8)}`, annotations: { ...pod.metadata?.annotations, ...annotations } }
  return pod as unknown as Record<string, unknown>
}

export async function testOptOutAndDryRun(t: Test, cluster: TestCluster): Promise<void> {
  const ns = await cluster.createNamespace('opt', ENABLED)
  await cluster.api.call('POST', `/api/v1/namespaces/${ns}/serviceaccounts`, { metadata: { name: 'contour' } })
  await t.test('a pod with the opt-out annotation stays untouched', async (t) => {
    for (const value of ['false', 'False ']) {
      const created = await cluster.api.call<V1Pod>('POST', `/api/v1/namespaces/${ns}/pods`, contourPod(ns, { [Annotations.inject]: value }))
      t.equal(created.metadata?.annotations?.[Annotations.status], undefined, `"${value}": no status annotation`)
      t.same(created.spec?.initContainers ?? [], [], `"${value}": no init container`)
      t.ok(created.spec?.containers[0]?.args?.includes('--insecure'), `"${value}": args unchanged`)
    }
  })
  await t.test('kubectl create --dry-run=server shows the injected pod and stores nothing', async (t) => {
    const pod = contourPod(ns)
    const res = await cluster.kubectl(['create', '--dry-run=server', '-o', 'json', '-f', '-'], { input: JSON.stringify(pod) })
    t.equal(res.code, 0, 'kubectl exit code', { stderr: res.stderr })
    const out = JSON.parse(res.stdout) as V1Pod
    t.match(out.metadata?.annotations?.[Annotations.status], /^injected; role=contour/)
    t.equal(out.spec?.initContainers?.[0]?.name, INIT_CONTAINER_NAME)
    t.notOk(out.spec?.containers[0]?.args?.includes('--insecure'), '--insecure removed')
    const name = (pod.metadata as { name: string }).name
    t.equal((await cluster.api.raw('GET', `/api/v1/namespaces/${ns}/pods/${name}`)).status, 404, 'not stored')
  })
  await t.test('a shell-wrapped Contour pod reaches the webhook and gets its warning, unchanged', async (t) => {
    const pod = contourPod(ns) as { spec: { containers: Array<{ command?: string[]; args?: string[] }> } }
    const container = pod.spec.containers[0]
    if (container === undefined) return t.fail('no container')
    container.command = ['sh', '-c', `exec contour ${(container.args ?? []).join(' ')}`]
    delete container.args
    const res = await cluster.kubectl(['create', '--dry-run=server', '-o', 'json', '-f', '-'], { input: JSON.stringify(pod) })
    t.equal(res.code, 0, 'admitted', { stderr: res.stderr })
    t.match(res.stderr, /Warning: .*shell/i, 'the admission warning names the shell wrapper')
    const out = JSON.parse(res.stdout) as V1Pod
    t.equal(out.metadata?.annotations?.[Annotations.status], undefined, 'not injected')
  })
}
