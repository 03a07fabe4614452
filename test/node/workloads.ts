// Small workloads for the real-node suite, on the locally assembled busybox image, and waits
// on what the kubelet reports.
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { V1Pod } from '@kubernetes/client-node'
import { REPO_ROOT } from '../../scripts/cluster/paths.ts'
import type { KubeApi } from '../../scripts/cluster/kube-api.ts'
import { waitFor, type Log } from '../../scripts/cluster/wait.ts'

/** The images scripts/node/build-images.sh listed, by repository. */
export async function localImage(repository: string): Promise<string> {
  const text = await readFile(join(REPO_ROOT, '.local-cluster', 'node-images'), 'utf8')
  const ref = text.split('\n').map((l) => l.split(' ')[0] ?? '').find((r) => r.startsWith(`${repository}:`))
  if (ref === undefined) throw new Error(`no ${repository} image in .local-cluster/node-images: run bash scripts/node/build-images.sh`)
  return ref
}

/** What Pod Security "restricted" asks of every container. */
export const RESTRICTED_CONTAINER = { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, runAsNonRoot: true, runAsUser: 65534, seccompProfile: { type: 'RuntimeDefault' } }

export function busyboxPod(name: string, image: string, script: string, extra: { labels?: Record<string, string>; restartPolicy?: string } = {}): Record<string, unknown> {
  return {
    apiVersion: 'v1', kind: 'Pod', metadata: { name, labels: extra.labels ?? { app: name } },
    spec: {
      restartPolicy: extra.restartPolicy ?? 'Always', terminationGracePeriodSeconds: 1, automountServiceAccountToken: false,
      containers: [{ name: 'main', image, command: ['sh', '-c', script], securityContext: RESTRICTED_CONTAINER }],
    },
  }
}

export async function waitForPhase(api: KubeApi, namespace: string, name: string, phases: readonly string[], log: Log, timeoutMs = 90_000): Promise<V1Pod> {
  return waitFor(`pod ${namespace}/${name} ${phases.join(' or ')}`, async () => {
    const pod = await api.call<V1Pod>('GET', `/api/v1/namespaces/${namespace}/pods/${name}`)
    const phase = pod.status?.phase ?? 'unknown'
    if (phases.includes(phase)) return pod
    const waiting = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])].map((c) => c.state?.waiting?.reason).filter((r) => r !== undefined)
    throw new Error(`phase ${phase}${waiting.length > 0 ? ` (${waiting.join(', ')})` : ''}`)
  }, { timeoutMs, log, hint: 'see the kubelet and containerd logs in the state directory' })
}

/**
 * Whether the pod's bootstrap-tls did its start-up job: as a plain init container it exited 0; as
 * a native sidecar (restartPolicy Always: the chart's default from Kubernetes 1.29) it is running
 * and its startup probe has passed. Returns what it saw, for the assertion's message.
 */
export function bootstrapTlsStarted(pod: V1Pod): { ok: boolean; how: string } {
  const spec = pod.spec?.initContainers?.find((c) => c.name === 'bootstrap-tls')
  const status = pod.status?.initContainerStatuses?.find((s) => s.name === 'bootstrap-tls')
  if (spec?.restartPolicy === 'Always') return { ok: status?.state?.running !== undefined && status.started === true, how: 'a native sidecar, running, its startup probe passed' }
  return { ok: status?.state?.terminated?.exitCode === 0, how: 'an init container that exited 0' }
}
