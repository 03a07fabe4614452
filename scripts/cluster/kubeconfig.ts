// kubeconfig files with embedded credentials (client certificate or bearer token).
import { writeFile } from 'node:fs/promises'
import { stringify } from 'yaml'
import type { KubeCredentials } from './kube-api.ts'

const b64 = (s: string) => Buffer.from(s).toString('base64')

export interface KubeconfigOptions {
  readonly cluster?: string
  readonly user?: string
  readonly namespace?: string
  /** JSON is YAML too; some tools (and tests) read kubeconfigs with JSON.parse. */
  readonly format?: 'yaml' | 'json'
}

export function kubeconfigText(credentials: KubeCredentials, opts: KubeconfigOptions = {}): string {
  const cluster = opts.cluster ?? 'contour-tls-injector-local'
  const user = opts.user ?? 'admin'
  const userEntry: Record<string, string> = {}
  if (credentials.cert !== undefined && credentials.key !== undefined) {
    userEntry['client-certificate-data'] = b64(credentials.cert)
    userEntry['client-key-data'] = b64(credentials.key)
  }
  if (credentials.token !== undefined) userEntry.token = credentials.token
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: cluster, cluster: { server: credentials.server, 'certificate-authority-data': b64(credentials.ca) } }],
    users: [{ name: user, user: userEntry }],
    contexts: [{ name: cluster, context: { cluster, user, ...(opts.namespace === undefined ? {} : { namespace: opts.namespace }) } }],
    'current-context': cluster,
  }
  return opts.format === 'json' ? JSON.stringify(config, null, 2) + '\n' : stringify(config)
}

export async function writeKubeconfig(path: string, credentials: KubeCredentials, opts: KubeconfigOptions = {}): Promise<void> {
  await writeFile(path, kubeconfigText(credentials, opts), { mode: 0o600 })
}
