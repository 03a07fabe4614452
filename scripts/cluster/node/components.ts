// The real node's daemons: command lines and health checks, all run inside the node's network
// namespace (see net.ts) and listening on its address.
import { join } from 'node:path'
import { expectOk } from '../health.ts'
import { Binaries } from '../paths.ts'
import { NODE_NAME } from '../pki.ts'
import { runCommand } from './exec.ts'
import { NodePorts, type NodePaths } from './config-files.ts'
import { CLUSTER_CIDR, type NodeNet } from './net.ts'

export const NODE_COMPONENTS = ['containerd', 'kubelet', 'kube-scheduler', 'kube-proxy', 'coredns'] as const
export type NodeComponent = (typeof NODE_COMPONENTS)[number]

export interface NodeSpec {
  readonly argv: readonly string[]
  readonly healthy: () => Promise<true>
  readonly what: string
  readonly timeoutMs: number
}

async function httpOk(url: string): Promise<true> {
  const res = await fetch(url, { signal: AbortSignal.timeout(3000) })
  if (res.status !== 200) throw new Error(`${url}: HTTP ${res.status} ${(await res.text()).slice(0, 200)}`)
  return true
}

export function nodeComponentSpec(name: NodeComponent, p: NodePaths, net: NodeNet, pkiDir: string): NodeSpec {
  const a = net.address
  switch (name) {
    case 'containerd':
      return {
        argv: ['/usr/bin/containerd', `--config=${p.containerdConfig}`],
        healthy: async () => {
          const res = await runCommand(['ctr', '--address', p.containerdSocket, 'version'], 5000)
          if (res.code !== 0) throw new Error(`ctr version: ${res.stderr.trim().slice(-200)}`)
          return true
        },
        what: `containerd on ${p.containerdSocket}`,
        timeoutMs: 30_000,
      }
    case 'kubelet':
      return {
        argv: [
          Binaries.kubelet, `--config=${p.kubeletConfig}`, `--kubeconfig=${p.kubeletKubeconfig}`,
          `--hostname-override=${NODE_NAME}`, `--node-ip=${a}`, `--root-dir=${p.kubeletRoot}`,
          `--cert-dir=${join(p.dir, 'kubelet', 'certs')}`, '--v=1',
        ],
        healthy: () => httpOk(`http://${a}:${NodePorts.kubeletHealthz}/healthz`),
        what: `kubelet /healthz on ${a}:${NodePorts.kubeletHealthz}`,
        timeoutMs: 60_000,
      }
    case 'kube-scheduler':
      return {
        argv: [
          Binaries.scheduler, `--kubeconfig=${p.schedulerKubeconfig}`, `--authentication-kubeconfig=${p.schedulerKubeconfig}`,
          `--authorization-kubeconfig=${p.schedulerKubeconfig}`, `--bind-address=${a}`, `--secure-port=${NodePorts.scheduler}`,
          `--cert-dir=${join(p.dir, 'scheduler-certs')}`, '--leader-elect=false', '--profiling=false',
        ],
        healthy: () => expectOk(`https://${a}:${NodePorts.scheduler}/healthz`, { insecure: true }),
        what: `kube-scheduler /healthz on ${a}:${NodePorts.scheduler}`,
        timeoutMs: 60_000,
      }
    case 'kube-proxy':
      return {
        argv: [
          Binaries.proxy, `--kubeconfig=${p.proxyKubeconfig}`, `--hostname-override=${NODE_NAME}`, `--bind-address=${a}`,
          '--proxy-mode=iptables', `--cluster-cidr=${CLUSTER_CIDR}`,
          // Pod-to-Service-to-pod on one bridge: SNAT makes the reply come back through the netns.
          '--masquerade-all',
          // Leave the machine-wide conntrack settings alone.
          '--conntrack-max-per-core=0', '--conntrack-tcp-timeout-established=0s', '--conntrack-tcp-timeout-close-wait=0s',
          `--healthz-bind-address=${a}:${NodePorts.proxyHealthz}`, `--metrics-bind-address=${a}:${NodePorts.proxyMetrics}`,
        ],
        healthy: () => httpOk(`http://${a}:${NodePorts.proxyHealthz}/livez`),
        what: `kube-proxy /livez on ${a}:${NodePorts.proxyHealthz}`,
        timeoutMs: 60_000,
      }
    case 'coredns':
      return {
        argv: [Binaries.coredns, '-conf', p.corefile],
        healthy: () => httpOk(`http://${a}:${NodePorts.dnsReady}/ready`),
        what: `CoreDNS /ready on ${a}:${NodePorts.dnsReady}`,
        timeoutMs: 60_000,
      }
  }
  void pkiDir
}
