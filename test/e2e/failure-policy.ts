// 6. failurePolicy Fail: with the webhook down, a Contour pod cannot start in an enabled
// namespace (no pod without TLS there), while unlabelled namespaces and pods the
// matchConditions keep away from the webhook are not affected. Then the webhook comes back.
import type { V1Pod } from '@kubernetes/client-node'
import type { Test } from 'tap'
import { Annotations, NAMESPACE_LABEL } from '../../src/core/injection/types.ts'
import type { TestCluster } from '../helpers/cluster.ts'
import { contourPod } from './injection.ts'

export async function testFailurePolicy(t: Test, cluster: TestCluster): Promise<void> {
  const enabled = await cluster.createNamespace('fail-on', { [NAMESPACE_LABEL.key]: NAMESPACE_LABEL.value })
  const plain = await cluster.createNamespace('fail-off')
  for (const ns of [enabled, plain]) await cluster.api.call('POST', `/api/v1/namespaces/${ns}/serviceaccounts`, { metadata: { name: 'contour' } })
  const create = (ns: string, pod: unknown) => cluster.api.raw<V1Pod & { message?: string }>('POST', `/api/v1/namespaces/${ns}/pods`, pod)
  const other = (name: string) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { containers: [{ name: 'app', image: 'busybox', command: ['sleep', '3600'] }] } })

  await cluster.setWebhookRunning(false)
  t.teardown(() => cluster.setWebhookRunning(true))
  await t.test('webhook stopped', async (t) => {
    const refused = await create(enabled, contourPod(enabled))
    t.equal(refused.status, 500, 'a Contour pod in an enabled namespace is refused')
    t.match(refused.body.message, /failed calling webhook "inject\.contour-tls-injection/)
    const outside = await create(plain, contourPod(plain))
    t.equal(outside.status, 201, 'a Contour pod in an unlabelled namespace is created')
    const unrelated = await create(enabled, other('unrelated'))
    t.equal(unrelated.status, 201, 'a pod that is neither Contour nor Envoy is created (matchConditions)')
    const optedOut = await create(enabled, contourPod(enabled, { [Annotations.inject]: 'False' }))
    t.equal(optedOut.status, 201, 'an opted-out Contour pod is created (matchConditions)')
  })
  await cluster.setWebhookRunning(true)
  await t.test('webhook back', async (t) => {
    const again = await create(enabled, contourPod(enabled))
    t.equal(again.status, 201, 'the Contour pod is created')
    t.match(again.body.metadata?.annotations?.[Annotations.status], /^injected/, 'and injected')
  })
}
