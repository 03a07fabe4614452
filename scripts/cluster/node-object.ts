// The cluster's one Node. No kubelet runs, so its status is written by hand (status
// subresource): Ready, allocatable, no taints. That is all the DaemonSet controller needs to
// create one pod per DaemonSet; the pods then stay Pending, after passing through admission.
import type { KubeApi } from './kube-api.ts'

export const NODE_NAME = 'cti-node'

export async function registerNode(api: KubeApi): Promise<void> {
  const labels = { 'kubernetes.io/hostname': NODE_NAME, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64' }
  await api.apply(`/api/v1/nodes/${NODE_NAME}`, { apiVersion: 'v1', kind: 'Node', metadata: { name: NODE_NAME, labels }, spec: { unschedulable: false } })
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z')
  const resources = { cpu: '8', memory: '16Gi', pods: '110', 'ephemeral-storage': '100Gi' }
  await api.apply(`/api/v1/nodes/${NODE_NAME}/status`, {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: NODE_NAME },
    status: {
      capacity: resources,
      allocatable: resources,
      conditions: [
        { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'no kubelet: status written by scripts/cluster.ts', lastHeartbeatTime: now, lastTransitionTime: now },
        { type: 'MemoryPressure', status: 'False', reason: 'KubeletHasSufficientMemory', lastHeartbeatTime: now, lastTransitionTime: now },
        { type: 'DiskPressure', status: 'False', reason: 'KubeletHasNoDiskPressure', lastHeartbeatTime: now, lastTransitionTime: now },
        { type: 'PIDPressure', status: 'False', reason: 'KubeletHasSufficientPID', lastHeartbeatTime: now, lastTransitionTime: now },
        { type: 'NetworkUnavailable', status: 'False', reason: 'NoKubelet', lastHeartbeatTime: now, lastTransitionTime: now },
      ],
      addresses: [{ type: 'InternalIP', address: '127.0.0.1' }, { type: 'Hostname', address: NODE_NAME }],
      nodeInfo: {
        architecture: 'amd64', operatingSystem: 'linux', kubeletVersion: 'v0.0.0-none', kubeProxyVersion: '', osImage: 'none', kernelVersion: 'none',
        containerRuntimeVersion: 'none://0', machineID: NODE_NAME, systemUUID: NODE_NAME, bootID: NODE_NAME,
      },
    },
  })
  // TaintNodesByCondition adds `not-ready` taints to a new Node before its status says Ready;
  // clear whatever was added so DaemonSet pods are created without waiting for the taint manager.
  const node = await api.call<{ spec?: { taints?: unknown[] } }>('GET', `/api/v1/nodes/${NODE_NAME}`)
  if ((node.spec?.taints ?? []).length > 0) {
    await api.call('PATCH', `/api/v1/nodes/${NODE_NAME}`, [{ op: 'remove', path: '/spec/taints' }], 'application/json-patch+json')
  }
}
