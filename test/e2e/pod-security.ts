// 5. Pod Security: in namespaces enforcing "restricted", a Contour-shaped and an Envoy-shaped
// pod are admitted with injection exactly when they are admitted without it. PodSecurity runs
// after the mutating webhooks, so it judges the injected pod.
import type { V1Pod } from '@kubernetes/client-node'
import type { Test } from 'tap'
import { Annotations, NAMESPACE_LABEL } from '../../src/core/injection/types.ts'
import type { TestCluster } from '../helpers/cluster.ts'

export const RESTRICTED = { 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/enforce-version': 'latest' }
const SECURE = { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, runAsNonRoot: true, runAsUser: 65534, seccompProfile: { type: 'RuntimeDefault' } }

export function shapes(compliant: boolean): Record<string, Record<string, unknown>> {
  const sc = compliant ? { securityContext: SECURE } : {}
  return {
    contour: {
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'contour' },
      spec: { serviceAccountName: 'default', containers: [{ name: 'contour', image: 'ghcr.io/projectcontour/contour:v1.33.6', command: ['contour'], args: ['serve', '--incluster', '--insecure', '--xds-address=0.0.0.0'], ...sc }] },
    },
    envoy: {
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'envoy' },
      spec: {
        automountServiceAccountToken: false,
        initContainers: [{ name: 'envoy-initconfig', image: 'ghcr.io/projectcontour/contour:v1.33.6', command: ['contour'], args: ['bootstrap', '/config/envoy.json', '--xds-address=contour', '--xds-port=8001'], volumeMounts: [{ name: 'envoy-config', mountPath: '/config' }], ...sc }],
        containers: [{ name: 'envoy', image: 'docker.io/envoyproxy/envoy:v1.35.0', command: ['envoy'], args: ['-c', '/config/envoy.json'], volumeMounts: [{ name: 'envoy-config', mountPath: '/config' }], ...sc }],
        volumes: [{ name: 'envoy-config', emptyDir: {} }],
      },
    },
  }
}

export async function dryRun(cluster: TestCluster, namespace: string, pod: unknown): Promise<{ admitted: boolean; pod?: V1Pod; message: string }> {
  const res = await cluster.kubectl(['create', '--dry-run=server', '-o', 'json', '-n', namespace, '-f', '-'], { input: JSON.stringify(pod) })
  return res.code === 0 ? { admitted: true, pod: JSON.parse(res.stdout) as V1Pod, message: '' } : { admitted: false, message: res.stderr.trim() }
}

export async function testPodSecurity(t: Test, cluster: TestCluster): Promise<void> {
  const enabled = await cluster.createNamespace('psa-on', { ...RESTRICTED, [NAMESPACE_LABEL.key]: NAMESPACE_LABEL.value })
  const plain = await cluster.createNamespace('psa-off', RESTRICTED)
  for (const compliant of [true, false]) {
    for (const [shape, pod] of Object.entries(shapes(compliant))) {
      await t.test(`${compliant ? 'restricted-compliant' : 'non-compliant'} ${shape} pod`, async (t) => {
        const [without, withInjection] = await Promise.all([dryRun(cluster, plain, pod), dryRun(cluster, enabled, pod)])
        t.equal(without.admitted, compliant, `without injection: ${without.admitted ? 'admitted' : without.message}`)
        t.equal(withInjection.admitted, without.admitted, `with injection: ${withInjection.admitted ? 'admitted' : withInjection.message}`)
        if (withInjection.pod !== undefined) t.match(withInjection.pod.metadata?.annotations?.[Annotations.status], /^injected/, 'and it was injected')
        if (!compliant) t.match(withInjection.message, /violates PodSecurity "restricted/, 'refused by PodSecurity, not by the webhook')
      })
    }
  }
}
