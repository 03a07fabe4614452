// What CoreDNS needs from the API: read access for its own identity (the upstream
// `system:coredns` role), and the `kube-dns` Service whose ClusterIP the kubelet writes into
// pods' resolv.conf. CoreDNS runs as a process in the node's namespace, not as a pod, so the
// Service has no selector and one EndpointSlice pointing at the node's address.
import type { KubeApi } from '../kube-api.ts'
import type { NodeNet } from './net.ts'

export async function applyDnsObjects(api: KubeApi, net: NodeNet, serviceIp: string): Promise<void> {
  await api.apply('/apis/rbac.authorization.k8s.io/v1/clusterroles/system:coredns', {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'system:coredns' },
    rules: [
      { apiGroups: [''], resources: ['endpoints', 'services', 'pods', 'namespaces'], verbs: ['list', 'watch'] },
      { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] },
    ],
  })
  await api.apply('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/system:coredns', {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'system:coredns' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:coredns' },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'system:coredns' }],
  })
  const ports = [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'dns-tcp', port: 53, protocol: 'TCP' }]
  await api.apply('/api/v1/namespaces/kube-system/services/kube-dns', {
    apiVersion: 'v1', kind: 'Service', metadata: { name: 'kube-dns', namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns' } },
    spec: { clusterIP: serviceIp, ports: ports.map((p) => ({ ...p, targetPort: 53 })) },
  })
  await api.apply('/apis/discovery.k8s.io/v1/namespaces/kube-system/endpointslices/kube-dns-node', {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { name: 'kube-dns-node', namespace: 'kube-system', labels: { 'kubernetes.io/service-name': 'kube-dns', 'endpointslice.kubernetes.io/managed-by': 'cluster.contour-tls-injector' } },
    addressType: 'IPv4',
    endpoints: [{ addresses: [net.address], conditions: { ready: true } }],
    ports,
  })
}
