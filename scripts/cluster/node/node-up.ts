// Starts the real node inside its network namespace: containerd (images imported with ctr),
// the kubelet with its own `system:node:cti-node` certificate, kube-scheduler, kube-proxy and
// CoreDNS (cluster.local only, forwarding nothing); then waits until the Node is Ready and the
// node-lifecycle controller has taken its not-ready taint off.
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { KubeApi } from '../kube-api.ts'
import { writeKubeconfig } from '../kubeconfig.ts'
import { NODE_NAME, type ClusterPki, type PemPair } from '../pki.ts'
import { daemonEnv, isOurs, spawnDaemon, stopProcess, type ProcessRecord } from '../processes.ts'
import { waitFor, type Log } from '../wait.ts'
import { NODE_COMPONENTS, nodeComponentSpec, type NodeComponent } from './components.ts'
import { nodePaths, writeNodeConfigs, type NodePaths } from './config-files.ts'
import { inNetns, mustRun } from './exec.ts'
import { DNS_SERVICE_IP, type NodeNet } from './net.ts'
import { nodeImages } from './prerequisites.ts'
import { applyDnsObjects } from './dns-objects.ts'
import { claimSysctls } from './sysctls.ts'
import { DEFAULT_IMAGE } from '../../../src/version.ts'

/** scripts/build-image.sh's repository (CTI_IMAGE_NAME's default). */
const LOCAL_PRODUCT_REPOSITORY = 'localhost/contour-tls-injector'

export interface NodeStart {
  readonly stateDir: string
  readonly logs: string
  readonly net: NodeNet
  readonly pki: ClusterPki
  readonly apiserver: string
  readonly log: Log
}

export type NodeProcesses = Partial<Record<NodeComponent, ProcessRecord>>

async function startOne(name: NodeComponent, s: NodeStart, p: NodePaths): Promise<ProcessRecord> {
  const spec = nodeComponentSpec(name, p, s.net, s.pki.dir)
  const record = await spawnDaemon(spec.argv, s.logs, name, daemonEnv(), p.dir, inNetns(s.net.netnsPath, []))
  s.log(`started ${name} (pid ${record.pid}); log: ${record.log}`)
  try {
    await waitFor(spec.what, async () => {
      if (!(await isOurs(record))) throw new Error(`${name} exited; the end of ${record.log} tells why`)
      return spec.healthy()
    }, { timeoutMs: spec.timeoutMs, log: s.log, hint: `see ${record.log}` })
  } catch (err) {
    await stopProcess(name, record, s.log)
    throw err
  }
  s.log(`${name} is healthy`)
  return record
}

export async function nodeHealthy(processes: NodeProcesses, s: Omit<NodeStart, 'log'>): Promise<boolean> {
  const p = nodePaths(s.stateDir, s.net)
  for (const name of NODE_COMPONENTS) {
    const record = processes[name]
    const spec = nodeComponentSpec(name, p, s.net, s.pki.dir)
    if (record === undefined || record.argv.join('\0') !== spec.argv.join('\0') || !(await isOurs(record))) return false
    if (!(await spec.healthy().catch(() => false))) return false
  }
  return true
}

/** A cgroup root of our own in every v1 hierarchy (the kubelet refuses a missing one). */
async function ensureCgroupRoot(p: NodePaths): Promise<void> {
  const mounts = await import('node:fs/promises').then((fs) => fs.readFile('/proc/self/mounts', 'utf8'))
  for (const line of mounts.split('\n')) {
    const [, dir, type] = line.split(' ')
    if ((type === 'cgroup' || type === 'cgroup2') && dir !== undefined) await mkdir(join(dir, p.cgroupRoot), { recursive: true })
  }
}

export async function startNode(s: NodeStart, api: KubeApi, record: (processes: NodeProcesses) => Promise<void>): Promise<NodeProcesses> {
  const p = nodePaths(s.stateDir, s.net)
  await writeNodeConfigs(p, s.net, s.pki.dir)
  const node = s.pki.node
  if (node === undefined) throw new Error('the PKI has no node certificates')
  const kc = (path: string, pair: PemPair, user: string) => writeKubeconfig(path, { server: s.apiserver, ca: s.pki.caCert, cert: pair.cert, key: pair.key }, { user })
  await kc(p.kubeletKubeconfig, node.kubelet, `system:node:${NODE_NAME}`)
  await kc(p.schedulerKubeconfig, node.scheduler, 'system:kube-scheduler')
  await kc(p.proxyKubeconfig, node.proxy, 'system:kube-proxy')
  await kc(p.corednsKubeconfig, node.coredns, 'system:coredns')
  await ensureCgroupRoot(p)
  const processes: NodeProcesses = {}
  processes.containerd = await startOne('containerd', s, p)
  await record(processes)
  const started = Date.now()
  for (const image of await nodeImages()) {
    await mustRun(['ctr', '--address', p.containerdSocket, '-n', 'k8s.io', 'images', 'import', image.archive], 300_000)
  }
  // The injected init container names the chart's default image; the local build stands in for it.
  const product = (await nodeImages()).find((i) => i.ref.startsWith(`${LOCAL_PRODUCT_REPOSITORY}:`))
  if (product !== undefined && product.ref !== DEFAULT_IMAGE) {
    await mustRun(['ctr', '--address', p.containerdSocket, '-n', 'k8s.io', 'images', 'tag', '--force', product.ref, DEFAULT_IMAGE])
  }
  s.log(`imported ${(await nodeImages()).map((i) => i.ref).join(', ')} into containerd (${((Date.now() - started) / 1000).toFixed(1)}s)${product === undefined ? '' : `; ${product.ref} also as ${DEFAULT_IMAGE}`}`)
  await applyDnsObjects(api, s.net, DNS_SERVICE_IP)
  // A Node written by hand (cluster:up without --nodes, earlier) must not stand in for the real one.
  const existing = await api.raw<{ status?: { nodeInfo?: { kubeletVersion?: string } } }>('GET', `/api/v1/nodes/${NODE_NAME}`)
  if (existing.status === 200 && existing.body.status?.nodeInfo?.kubeletVersion === 'v0.0.0-none') {
    await api.call('DELETE', `/api/v1/nodes/${NODE_NAME}`)
    s.log(`deleted the hand-written Node ${NODE_NAME}`)
  }
  await claimSysctls(s.stateDir, s.log)
  processes.kubelet = await startOne('kubelet', s, p)
  await record(processes)
  const rest = await Promise.allSettled((['kube-scheduler', 'kube-proxy', 'coredns'] as const).map(async (n) => [n, await startOne(n, s, p)] as const))
  for (const r of rest) if (r.status === 'fulfilled') processes[r.value[0]] = r.value[1]
  await record(processes)
  for (const r of rest) if (r.status === 'rejected') throw r.reason
  await waitFor(`Node ${NODE_NAME} Ready without the not-ready taint`, async () => {
    const n = await api.call<{ spec?: { taints?: Array<{ key: string }> }; status?: { conditions?: Array<{ type: string; status: string }> } }>('GET', `/api/v1/nodes/${NODE_NAME}`)
    const ready = n.status?.conditions?.find((c) => c.type === 'Ready')?.status
    if (ready !== 'True') throw new Error(`Ready is ${ready ?? 'unset'}`)
    const taints = (n.spec?.taints ?? []).map((t) => t.key)
    if (taints.length > 0) throw new Error(`taints ${taints.join(', ')}`)
    return true
  }, { timeoutMs: 120_000, log: s.log, hint: `see ${s.logs}/kubelet.log and kube-controller-manager.log` })
  s.log(`Node ${NODE_NAME} is Ready and untainted`)
  return processes
}
