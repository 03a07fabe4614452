// The four daemons of the local cluster: their command lines and health checks.
import { join } from 'node:path'
import { etcdHealthy, expectOk } from './health.ts'
import { PkiFiles, pkiPath, type ClusterPki } from './pki.ts'
import { Binaries, NODE_BIN, REPO_ROOT, type StatePaths } from './paths.ts'
import type { Component, Ports, WebhookRun } from './state.ts'
import type { NodeNet } from './node/net.ts'

export const DEFAULT_WEBHOOK_RUN: WebhookRun = { drainSeconds: 0, cli: join(REPO_ROOT, 'src', 'cli.ts') }

export const SERVICE_CIDR = '10.96.0.0/16'
export const SERVICE_IP = '10.96.0.1'
export const SERVICE_ACCOUNT_ISSUER = 'https://kubernetes.default.svc.cluster.local'

/** Controllers that create and own pods, service accounts and their tokens; no node lifecycle (no kubelet). */
export const CONTROLLERS = [
  'deployment-controller', 'replicaset-controller', 'daemonset-controller', 'statefulset-controller', 'job-controller',
  'serviceaccount-controller', 'serviceaccount-token-controller', 'root-ca-certificate-publisher-controller',
  'namespace-controller', 'garbage-collector-controller', 'clusterrole-aggregation-controller',
]
/** With a real node: its lifecycle (the not-ready taint comes off once the kubelet says Ready), Services' endpoints, pod clean-up. */
export const NODE_CONTROLLERS = [
  'node-lifecycle-controller', 'taint-eviction-controller', 'endpoints-controller', 'endpointslice-controller',
  'endpointslice-mirroring-controller', 'pod-garbage-collector-controller', 'ttl-after-finished-controller',
]

export interface ComponentContext {
  readonly paths: StatePaths
  readonly ports: Ports
  readonly pki: ClusterPki
  readonly webhook: WebhookRun
  /** Set with a real node: every daemon runs in its network namespace and listens on its address. */
  readonly net?: NodeNet
}

/** Where the control plane listens: loopback, or the node's address inside its namespace. */
export const listenAddress = (ctx: Pick<ComponentContext, 'net'>): string => ctx.net?.address ?? '127.0.0.1'

export interface ComponentSpec {
  readonly argv: readonly string[]
  readonly env?: Record<string, string>
  readonly cwd?: string
  readonly healthy: () => Promise<true>
  readonly what: string
  readonly timeoutMs: number
}

export function componentSpec(name: Component, ctx: ComponentContext): ComponentSpec {
  const { paths, ports, pki } = ctx
  const host = listenAddress(ctx)
  const file = (n: string, kind: 'crt' | 'key') => pkiPath(paths.pki, n, kind)
  const caFile = join(paths.pki, PkiFiles.caCert)
  switch (name) {
    case 'etcd':
      return {
        argv: [
          Binaries.etcd, '--name=cti', `--data-dir=${paths.etcdData}`,
          `--listen-client-urls=http://${host}:${ports.etcd}`, `--advertise-client-urls=http://${host}:${ports.etcd}`,
          `--listen-peer-urls=http://${host}:${ports.etcdPeer}`, `--initial-advertise-peer-urls=http://${host}:${ports.etcdPeer}`,
          `--initial-cluster=cti=http://${host}:${ports.etcdPeer}`,
          // A throwaway cluster: durability is not worth the fsync cost on a small CI disk.
          '--unsafe-no-fsync', '--log-level=warn', '--auto-compaction-retention=10m',
        ],
        healthy: () => etcdHealthy(ports.etcd, host),
        what: `etcd on ${host}:${ports.etcd}`,
        timeoutMs: 30_000,
      }
    case 'kube-apiserver':
      return {
        argv: [
          Binaries.apiserver, `--etcd-servers=http://${host}:${ports.etcd}`,
          // With a node, 0.0.0.0 inside its namespace: loopback, the veth and the pods' bridge.
          `--bind-address=${ctx.net === undefined ? host : '0.0.0.0'}`, `--advertise-address=${host}`, `--secure-port=${ports.apiserver}`,
          `--tls-cert-file=${file(PkiFiles.apiserver, 'crt')}`, `--tls-private-key-file=${file(PkiFiles.apiserver, 'key')}`,
          `--client-ca-file=${caFile}`,
          '--authorization-mode=Node,RBAC',
          '--enable-admission-plugins=NamespaceLifecycle,ServiceAccount,NodeRestriction,PodSecurity,MutatingAdmissionWebhook,ValidatingAdmissionWebhook,ResourceQuota',
          `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
          `--service-account-key-file=${join(paths.pki, PkiFiles.serviceAccountPub)}`,
          `--service-account-signing-key-file=${join(paths.pki, PkiFiles.serviceAccountKey)}`,
          `--service-cluster-ip-range=${SERVICE_CIDR}`,
          // Without a node the `kubernetes` Service's endpoints would be 127.0.0.1, which Endpoints
          // validation refuses; with one, pods reach the apiserver through it (kube-proxy).
          `--endpoint-reconciler-type=${ctx.net === undefined ? 'none' : 'lease'}`,
          ...kubeletClientFlags(ctx),
          '--allow-privileged=true', '--profiling=false', `--cert-dir=${join(paths.dir, 'apiserver-certs')}`,
        ],
        healthy: () => expectOk(`https://${host}:${ports.apiserver}/readyz`, { ca: pki.caCert, cert: pki.admin.cert, key: pki.admin.key }),
        what: `kube-apiserver /readyz on ${host}:${ports.apiserver}`,
        timeoutMs: 120_000,
      }
    case 'kube-controller-manager':
      return {
        argv: [
          Binaries.controllerManager, `--kubeconfig=${paths.controllerManagerKubeconfig}`,
          `--authentication-kubeconfig=${paths.controllerManagerKubeconfig}`, `--authorization-kubeconfig=${paths.controllerManagerKubeconfig}`,
          `--bind-address=${host}`, `--secure-port=${ports.controllerManager}`, `--cert-dir=${join(paths.dir, 'kcm-certs')}`,
          '--leader-elect=false', '--use-service-account-credentials=true',
          `--service-account-private-key-file=${join(paths.pki, PkiFiles.serviceAccountKey)}`, `--root-ca-file=${caFile}`,
          `--controllers=${[...CONTROLLERS, ...(ctx.net === undefined ? [] : NODE_CONTROLLERS)].join(',')}`, `--service-cluster-ip-range=${SERVICE_CIDR}`, '--profiling=false',
          // React to new pods and namespaces at once: the suite creates many in a row.
          '--concurrent-deployment-syncs=5', '--concurrent-replicaset-syncs=5', '--concurrent-daemonset-syncs=5',
        ],
        healthy: () => expectOk(`https://${host}:${ports.controllerManager}/healthz`, { insecure: true }),
        what: `kube-controller-manager /healthz on ${host}:${ports.controllerManager}`,
        timeoutMs: 60_000,
      }
    case 'webhook':
      return {
        argv: [
          NODE_BIN, ctx.webhook.cli, 'webhook',
          `--tls-cert-file=${file(PkiFiles.webhook, 'crt')}`, `--tls-key-file=${file(PkiFiles.webhook, 'key')}`,
          `--host=${host}`, `--port=${ports.webhook}`, `--drain-seconds=${ctx.webhook.drainSeconds}`,
        ],
        cwd: REPO_ROOT,
        healthy: () => expectOk(`https://${host}:${ports.webhook}/readyz`, { ca: pki.caCert }),
        what: `webhook /readyz on ${host}:${ports.webhook}`,
        timeoutMs: 30_000,
      }
  }
}

/** The apiserver's own client certificate for the kubelet (logs, exec), and the node's address type. */
function kubeletClientFlags(ctx: ComponentContext): string[] {
  if (ctx.net === undefined) return []
  const file = (n: string, kind: 'crt' | 'key') => pkiPath(ctx.paths.pki, n, kind)
  return [
    `--kubelet-client-certificate=${file(PkiFiles.apiserverKubeletClient, 'crt')}`, `--kubelet-client-key=${file(PkiFiles.apiserverKubeletClient, 'key')}`,
    `--kubelet-certificate-authority=${join(ctx.paths.pki, PkiFiles.caCert)}`, '--kubelet-preferred-address-types=InternalIP',
  ]
}
