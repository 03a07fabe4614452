// Reading pods back from the apiserver: which workload made each pod, waiting for them, and a
// normal form in which a pod from an enabled namespace and its twin from an unlabelled one
// differ only by what the webhook did.
import type { V1Pod } from '@kubernetes/client-node'
import type { KubeApi } from '../../scripts/cluster/kube-api.ts'
import { waitFor, type Log } from '../../scripts/cluster/wait.ts'
import { VOLUME_NAMES } from '../../src/core/injection/types.ts'
import { classifyContainer, listContainers } from '../core/injection/support/upstream-variants.ts'
import type { PodRole } from '../../src/core/injection/types.ts'

interface OwnerRef {
  readonly kind: string
  readonly name: string
  readonly controller?: boolean
}
interface Owned {
  readonly metadata?: { readonly name?: string; readonly ownerReferences?: readonly OwnerRef[] }
}

const controllerOf = (o: Owned): OwnerRef | undefined => o.metadata?.ownerReferences?.find((r) => r.controller === true)

/** Pods of a namespace grouped by `<kind>/<name>` of the Deployment or DaemonSet that made them. */
export async function podsByWorkload(api: KubeApi, namespace: string): Promise<Map<string, V1Pod[]>> {
  const [pods, replicaSets] = await Promise.all([
    api.call<{ items: V1Pod[] }>('GET', `/api/v1/namespaces/${namespace}/pods`),
    api.call<{ items: Owned[] }>('GET', `/apis/apps/v1/namespaces/${namespace}/replicasets`),
  ])
  const deploymentOf = new Map(replicaSets.items.map((rs) => [rs.metadata?.name ?? '', controllerOf(rs)?.name]))
  const groups = new Map<string, V1Pod[]>()
  for (const pod of pods.items) {
    const owner = controllerOf(pod as Owned)
    if (owner === undefined) continue
    const key = owner.kind === 'ReplicaSet' ? `Deployment/${deploymentOf.get(owner.name) ?? '?'}` : `${owner.kind}/${owner.name}`
    groups.set(key, [...(groups.get(key) ?? []), pod])
  }
  return groups
}

/** Waits until every workload has exactly its expected number of pods. */
export async function waitForPods(api: KubeApi, namespace: string, expected: ReadonlyMap<string, number>, log: Log): Promise<Map<string, V1Pod[]>> {
  return waitFor(`pods of ${[...expected.keys()].join(', ')} in ${namespace}`, async () => {
    const groups = await podsByWorkload(api, namespace)
    const missing = [...expected].filter(([key, n]) => (groups.get(key)?.length ?? 0) < n).map(([key, n]) => `${key} ${groups.get(key)?.length ?? 0}/${n}`)
    if (missing.length > 0) throw new Error(`still missing: ${missing.join(', ')}`)
    return groups
  }, { timeoutMs: 90_000, log, hint: 'the controllers create them; see kube-controller-manager.log' })
}

/**
 * The pod without what differs between two namespaces or two creations (names, uids, owner
 * uids, the service account token volume's random suffix, status), and with the apiserver's
 * `defaultMode: 420` taken off the webhook's Secret volumes (the webhook leaves it unset).
 */
export function normalisePod(stored: V1Pod): V1Pod {
  const pod = structuredClone(stored)
  const labels = { ...pod.metadata?.labels }
  const annotations = pod.metadata?.annotations
  const spec = pod.spec
  if (spec === undefined) throw new Error('stored pod without spec')
  const token = (name: string) => name.startsWith('kube-api-access-')
  spec.volumes = spec.volumes?.filter((v) => !token(v.name))
  if (spec.volumes?.length === 0) delete spec.volumes
  for (const c of listContainers(pod)) {
    c.volumeMounts = c.volumeMounts?.filter((m) => !token(m.name))
    if (c.volumeMounts?.length === 0) delete c.volumeMounts
  }
  const ours: ReadonlySet<string> = new Set(Object.values(VOLUME_NAMES))
  for (const v of spec.volumes ?? []) if (ours.has(v.name) && v.secret?.defaultMode === 420) delete v.secret.defaultMode
  return { apiVersion: 'v1', kind: 'Pod', metadata: { labels, ...(annotations === undefined ? {} : { annotations }) }, spec }
}

/** The role the design gives a pod, by the test's own classification. */
export function expectRole(pod: V1Pod): PodRole {
  const roles = new Set(listContainers(pod).map(classifyContainer))
  const envoySide = roles.has('bootstrap') || roles.has('envoy')
  return roles.has('serve') ? (envoySide ? 'co-located' : 'contour') : 'envoy'
}
