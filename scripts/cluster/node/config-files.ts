// The node's configuration files (containerd, CNI, kubelet, CoreDNS), all inside the state
// directory. Settings that matter on this kind of machine, from the hand-tested recipe:
// restrict_oom_score_adj (no CAP_SYS_RESOURCE), cgroupfs with cgroup v1, overlayfs.
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { BRIDGE, CNI_NETWORK, DNS_SERVICE_IP, POD_CIDR, type NodeNet } from './net.ts'

export const PAUSE_IMAGE = 'localhost/cti-pause:3.10'
export const NodePorts = { kubelet: 10250, kubeletHealthz: 10248, scheduler: 10259, proxyHealthz: 10256, proxyMetrics: 10249, dnsHealth: 8080, dnsReady: 8181 } as const

export interface NodePaths {
  readonly dir: string
  readonly containerdConfig: string
  readonly containerdRoot: string
  readonly containerdState: string
  readonly containerdSocket: string
  readonly cniConfDir: string
  readonly cniIpam: string
  readonly kubeletConfig: string
  readonly kubeletRoot: string
  readonly kubeletKubeconfig: string
  readonly schedulerKubeconfig: string
  readonly proxyKubeconfig: string
  readonly corednsKubeconfig: string
  readonly corefile: string
  /** The kubelet's cgroup root, one per node, so `down` removes exactly its cgroups. */
  readonly cgroupRoot: string
}

export function nodePaths(stateDir: string, net: NodeNet): NodePaths {
  const dir = join(stateDir, 'node')
  return {
    dir,
    containerdConfig: join(dir, 'containerd', 'config.toml'),
    containerdRoot: join(dir, 'containerd', 'root'),
    containerdState: join(dir, 'containerd', 'state'),
    containerdSocket: join(dir, 'containerd', 'containerd.sock'),
    cniConfDir: join(dir, 'cni', 'net.d'),
    cniIpam: join(dir, 'cni', 'ipam'),
    kubeletConfig: join(dir, 'kubelet', 'config.yaml'),
    kubeletRoot: join(dir, 'kubelet', 'root'),
    kubeletKubeconfig: join(dir, 'kubelet.kubeconfig'),
    schedulerKubeconfig: join(dir, 'kube-scheduler.kubeconfig'),
    proxyKubeconfig: join(dir, 'kube-proxy.kubeconfig'),
    corednsKubeconfig: join(dir, 'coredns.kubeconfig'),
    corefile: join(dir, 'Corefile'),
    cgroupRoot: `/${net.netns}`,
  }
}

export async function writeNodeConfigs(p: NodePaths, net: NodeNet, pkiDir: string): Promise<void> {
  for (const d of [p.containerdRoot, p.containerdState, p.cniConfDir, p.cniIpam, p.kubeletRoot, join(p.dir, 'kubelet', 'manifests'), join(p.dir, 'kubelet', 'podlogs')]) {
    await mkdir(d, { recursive: true })
  }
  const c = join(p.dir, 'containerd')
  await writeFile(p.containerdConfig, `version = 2
root = "${p.containerdRoot}"
state = "${p.containerdState}"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "${p.containerdSocket}"
[ttrpc]
  address = "${p.containerdSocket}.ttrpc"
[debug]
  address = "${c}/debug.sock"
[metrics]
  address = ""
[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "${c}/opt"
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "${PAUSE_IMAGE}"
    disable_apparmor = true
    # No CAP_SYS_RESOURCE on these VMs: runc cannot lower oom_score_adj, every sandbox would fail.
    restrict_oom_score_adj = true
    enable_selinux = false
    # Pod network namespaces under the state directory, not /run/netns: down removes exactly ours.
    netns_mounts_under_state_dir = true
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          BinaryName = "/usr/sbin/runc"
          SystemdCgroup = false
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "${p.cniConfDir}"
`)
  await writeFile(join(p.cniConfDir, '10-cti-bridge.conflist'), JSON.stringify({
    cniVersion: '1.0.0', name: CNI_NETWORK,
    plugins: [
      { type: 'bridge', bridge: BRIDGE, isGateway: true, ipMasq: false, hairpinMode: true,
        ipam: { type: 'host-local', ranges: [[{ subnet: POD_CIDR }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: p.cniIpam } },
      { type: 'portmap', capabilities: { portMappings: true } },
    ],
  }, null, 2) + '\n')
  const ca = join(pkiDir, 'ca.crt')
  await writeFile(p.kubeletConfig, stringify({
    apiVersion: 'kubelet.config.k8s.io/v1beta1', kind: 'KubeletConfiguration',
    containerRuntimeEndpoint: `unix://${p.containerdSocket}`,
    cgroupDriver: 'cgroupfs', cgroupRoot: p.cgroupRoot, failCgroupV1: false, failSwapOn: false,
    staticPodPath: join(p.dir, 'kubelet', 'manifests'), podLogsDir: join(p.dir, 'kubelet', 'podlogs'),
    address: net.address, port: NodePorts.kubelet, readOnlyPort: 0,
    healthzBindAddress: net.address, healthzPort: NodePorts.kubeletHealthz,
    tlsCertFile: join(pkiDir, 'kubelet-serving.crt'), tlsPrivateKeyFile: join(pkiDir, 'kubelet-serving.key'),
    // Only the apiserver's client certificate (and tokens it vouches for) may talk to the kubelet.
    authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: ca } },
    authorization: { mode: 'Webhook' },
    clusterDomain: 'cluster.local', clusterDNS: [DNS_SERVICE_IP],
    // No host resolver for pods: names outside cluster.local do not resolve at all.
    resolvConf: '',
    rotateCertificates: false, serverTLSBootstrap: false, registerNode: true, serializeImagePulls: false,
    // Secret volumes refresh within seconds (the default minute makes rotation tests slow).
    syncFrequency: '5s',
    evictionHard: { 'memory.available': '100Mi', 'nodefs.available': '1%', 'imagefs.available': '1%' },
    imageGCHighThresholdPercent: 100, imageGCLowThresholdPercent: 99,
  }))
  await writeFile(p.corefile, `cluster.local:53 in-addr.arpa:53 ip6.arpa:53 {
    bind ${net.address}
    errors
    health ${net.address}:${NodePorts.dnsHealth}
    ready ${net.address}:${NodePorts.dnsReady}
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig ${p.corednsKubeconfig}
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 5
}
`)
}
