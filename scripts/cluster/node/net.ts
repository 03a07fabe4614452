// The node's network namespace: the whole cluster (apiserver included) runs inside it, so no
// packet can leave the machine. It has loopback, one veth to the host (10.250.<n>.0/30, the
// only way in, for kubectl and the tests) and the pods' bridge; no default route (the Service
// range goes to loopback, for kube-proxy's DNAT). Forwarding
// towards the veth is dropped, so pods cannot reach the host either.
import { createHash } from 'node:crypto'
import { access } from 'node:fs/promises'
import { inNetns, mustRun, runCommand } from './exec.ts'
import { SERVICE_CIDR } from '../components.ts'

export interface NodeNet {
  /** `ip netns` name; its file is /run/netns/<name>. */
  readonly netns: string
  readonly netnsPath: string
  readonly hostVeth: string
  readonly nodeVeth: string
  /** The host's end of the veth. */
  readonly hostAddress: string
  /** The node's address: apiserver, kubelet and every daemon listen on it inside the netns. */
  readonly address: string
}

export const POD_CIDR = '10.244.0.0/24'
export const CLUSTER_CIDR = '10.244.0.0/16'
export const DNS_SERVICE_IP = '10.96.0.10'
export const BRIDGE = 'cti0'
/** The CNI network's name; libcni's cache files under /var/lib/cni/results start with it. */
export const CNI_NETWORK = 'cti'

/** A /30 per state directory (hash of its path), so two clusters on one machine do not collide. */
export function nodeNetFor(stateDir: string): NodeNet {
  const n = (createHash('sha256').update(stateDir).digest().readUInt16BE(0) % 250) + 2
  const netns = `cti-node-${n}`
  return {
    netns,
    netnsPath: `/run/netns/${netns}`,
    hostVeth: `cti${n}h`,
    nodeVeth: `cti${n}n`,
    hostAddress: `10.250.${n}.1`,
    address: `10.250.${n}.2`,
  }
}

const exists = (p: string) => access(p).then(() => true, () => false)

export class NodeNetTakenError extends Error {
  readonly code = 'ERR_NODE_NET_TAKEN'
  constructor(net: NodeNet, owner: string) {
    super(`network namespace ${net.netns} belongs to the cluster in ${owner}; stop it with \`node scripts/cluster.ts down --state-dir ${owner}\` or use another state directory`)
    this.name = 'NodeNetTakenError'
  }
}

/**
 * Creates whatever part of the namespace is missing (idempotent). Its loopback's alias names the
 * state directory that owns it (the kernel keeps it, and it goes with the namespace), so a hash
 * collision with another cluster's directory is refused instead of shared.
 */
export async function ensureNodeNet(net: NodeNet, stateDir: string): Promise<void> {
  const ns = (argv: string[]) => inNetns(net.netnsPath, argv)
  if (!(await exists(net.netnsPath))) await mustRun(['ip', 'netns', 'add', net.netns])
  const alias = (await mustRun(ns(['ip', '-o', 'link', 'show', 'dev', 'lo']))).match(/alias (.+)$/m)?.[1]?.trim()
  if (alias !== undefined && alias !== stateDir) throw new NodeNetTakenError(net, alias)
  if (alias === undefined) await mustRun(ns(['ip', 'link', 'set', 'dev', 'lo', 'alias', stateDir]))
  await mustRun(ns(['ip', 'link', 'set', 'lo', 'up']))
  if ((await runCommand(['ip', 'link', 'show', net.hostVeth])).code !== 0) {
    await mustRun(['ip', 'link', 'add', net.hostVeth, 'type', 'veth', 'peer', 'name', net.nodeVeth, 'netns', net.netns])
  }
  const hostAddrs = await mustRun(['ip', '-4', '-o', 'addr', 'show', 'dev', net.hostVeth])
  if (!hostAddrs.includes(`${net.hostAddress}/30`)) await mustRun(['ip', 'addr', 'add', `${net.hostAddress}/30`, 'dev', net.hostVeth])
  await mustRun(['ip', 'link', 'set', net.hostVeth, 'up'])
  const nodeAddrs = await mustRun(ns(['ip', '-4', '-o', 'addr', 'show', 'dev', net.nodeVeth]))
  if (!nodeAddrs.includes(`${net.address}/30`)) await mustRun(ns(['ip', 'addr', 'add', `${net.address}/30`, 'dev', net.nodeVeth]))
  await mustRun(ns(['ip', 'link', 'set', net.nodeVeth, 'up']))
  // The node's own processes (the apiserver calling a webhook's Service) connect to ClusterIPs:
  // without a route to them connect() fails before kube-proxy's DNAT can rewrite the address.
  // Through loopback, from the node's address: DNAT then reroutes to the pod on the bridge, and a
  // ClusterIP nobody serves loops inside the namespace until its TTL runs out.
  await mustRun(ns(['ip', 'route', 'replace', SERVICE_CIDR, 'dev', 'lo', 'src', net.address]))
  // Pods route everything to the bridge; nothing of theirs may cross the veth to the host.
  const rule = ['FORWARD', '-o', net.nodeVeth, '-j', 'DROP']
  if ((await runCommand(ns(['iptables', '-w', '-C', ...rule]))).code !== 0) await mustRun(ns(['iptables', '-w', '-I', ...rule]))
  const routes = await mustRun(ns(['ip', 'route', 'show', 'default']))
  if (routes.trim() !== '') throw new Error(`the node's network namespace ${net.netns} has a default route (${routes.trim()}); it must have none`)
}

/** Removes the namespace: its interfaces, the bridge, iptables chains and sysctls go with it. */
export async function deleteNodeNet(net: NodeNet): Promise<boolean> {
  const had = await exists(net.netnsPath)
  if ((await runCommand(['ip', 'link', 'show', net.hostVeth])).code === 0) await runCommand(['ip', 'link', 'del', net.hostVeth])
  if (had) await mustRun(['ip', 'netns', 'del', net.netns])
  return had
}
