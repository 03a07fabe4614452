// 2. Secrets for real: bootstrap-tls --role=contour as Contour's service account (a TokenRequest
// token, the chart's RBAC and nothing more) against the real apiserver, with the test playing
// the kubelet; ten concurrent processes; the reusable Secret behaviour cases.
import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Test } from 'tap'
import { NODE_BIN, REPO_ROOT } from '../../scripts/cluster/paths.ts'
import { checkCertificateSet } from '../../src/core/certs/check-set.ts'
import type { CertificateSet } from '../../src/core/certs/types.ts'
import { startFakeKubelet } from '../bootstrap/fake-kubelet.ts'
import { defineSecretBehaviours } from '../bootstrap/secret-behaviours.ts'
import { DEFAULT_NAMES, readSet, secretAdmin } from '../bootstrap/secret-admin.ts'
import { run, type RunResult, type TestCluster } from '../helpers/cluster.ts'
import { waitFor } from '../../scripts/cluster/wait.ts'
import { buildSecretsRole, buildSecretsRoleBinding } from './rbac.ts'

export interface ContourNamespace {
  readonly namespace: string
  /** Kubeconfig of the `contour` service account (token from the TokenRequest API). */
  readonly contourKubeconfig: string
}

/** Applies the chart's Role and RoleBinding and waits until the authorizer's cache has them (a fresh binding takes a moment). */
export async function grantSecretsRole(cluster: TestCluster, namespace: string, serviceAccount: { name: string; namespace: string }, instances: readonly string[] = ['']): Promise<void> {
  await cluster.api.call('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}/roles`, buildSecretsRole(namespace, undefined, instances))
  await cluster.api.call('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}/rolebindings`, buildSecretsRoleBinding(namespace, serviceAccount))
  const user = `system:serviceaccount:${serviceAccount.namespace}:${serviceAccount.name}`
  await waitFor(`RBAC for ${user} in ${namespace}`, async () => {
    const review = await cluster.api.call<{ status: { allowed: boolean } }>('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
      apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview',
      spec: { user, groups: ['system:serviceaccounts', 'system:authenticated'], resourceAttributes: { namespace, verb: 'update', resource: 'secrets', name: `${DEFAULT_NAMES.ca}${instances.at(-1) ?? ''}` } },
    })
    return review.status.allowed ? true : undefined
  }, { timeoutMs: 10_000, intervalMs: 20, log: () => undefined })
}

/** A namespace with the `contour` and `envoy` service accounts and the chart's Role for `contour`. */
export async function createContourNamespace(cluster: TestCluster, prefix: string, labels: Record<string, string> = {}): Promise<ContourNamespace> {
  const namespace = await cluster.createNamespace(prefix, labels)
  for (const name of ['contour', 'envoy']) await cluster.api.call('POST', `/api/v1/namespaces/${namespace}/serviceaccounts`, { metadata: { name } })
  await grantSecretsRole(cluster, namespace, { name: 'contour', namespace })
  return { namespace, contourKubeconfig: await cluster.serviceAccountKubeconfig(namespace, 'contour') }
}

export interface BootstrapRun extends RunResult {
  readonly tlsDir: string
}

/** `node src/cli.ts bootstrap-tls --role=contour` as a real process, the test projecting the Secrets as the kubelet would. */
export async function runBootstrapProcess(cluster: TestCluster, ns: ContourNamespace, opts: { mounts?: readonly string[]; kubeletIntervalMs?: number } = {}): Promise<BootstrapRun> {
  const tlsDir = await cluster.tmpDir('tls')
  const mounts = opts.mounts ?? ['contour', 'ca']
  // Optional Secret volumes start as empty directories.
  for (const m of mounts) await mkdir(join(tlsDir, m))
  const secretOf: Record<string, string> = { contour: DEFAULT_NAMES.contour, envoy: DEFAULT_NAMES.envoy, ca: DEFAULT_NAMES.ca }
  const kubelet = startFakeKubelet(secretAdmin(cluster.kubeconfig, ns.namespace), tlsDir, Object.fromEntries(mounts.map((m) => [m, secretOf[m] ?? m])), opts.kubeletIntervalMs ?? 100)
  try {
    const result = await run(NODE_BIN, [join(REPO_ROOT, 'src', 'cli.ts'), 'bootstrap-tls', '--role=contour', `--kubeconfig=${ns.contourKubeconfig}`, `--namespace=${ns.namespace}`, `--tls-dir=${tlsDir}`, '--wait-timeout=90s'], { timeoutMs: 120_000 })
    return { ...result, tlsDir }
  } finally {
    await kubelet.stop()
  }
}

async function assertOneValidSet(t: Test, cluster: TestCluster, namespace: string): Promise<CertificateSet> {
  const set = await readSet(secretAdmin(cluster.kubeconfig, namespace))
  const check = checkCertificateSet(set)
  t.ok(check.ok, `the three Secrets hold one valid set${check.ok ? '' : `: ${check.reason} ${check.detail}`}`)
  return set
}

async function assertFiles(t: Test, tlsDir: string, set: CertificateSet): Promise<void> {
  t.equal(await readFile(join(tlsDir, 'ca', 'ca.crt'), 'utf8'), set.caCert, 'ca/ca.crt is the Secret\'s')
  t.equal(await readFile(join(tlsDir, 'contour', 'tls.crt'), 'utf8'), set.contourCert, 'contour/tls.crt is the Secret\'s')
}

export async function testSecrets(t: Test, cluster: TestCluster): Promise<void> {
  await t.test('bootstrap-tls --role=contour as Contour\'s service account on an empty namespace exits 0', async (t) => {
    const ns = await createContourNamespace(cluster, 'boot')
    const r = await runBootstrapProcess(cluster, ns)
    t.equal(r.code, 0, 'exit code', { stderr: r.stderr })
    t.match(r.stderr, /created a new set/)
    t.notMatch(r.stderr + r.stdout, /PRIVATE KEY/, 'no key material in the output')
    await assertFiles(t, r.tlsDir, await assertOneValidSet(t, cluster, ns.namespace))
  })

  await t.test('ten concurrent bootstrap-tls processes converge on one set', async (t) => {
    const ns = await createContourNamespace(cluster, 'ten')
    const runs = await Promise.all(Array.from({ length: 10 }, () => runBootstrapProcess(cluster, ns, { kubeletIntervalMs: 250 })))
    for (const r of runs) t.equal(r.code, 0, 'exit code', { stderr: r.stderr })
    t.equal(runs.filter((r) => /created a new set/.test(r.stderr)).length, 1, 'exactly one process wrote the set')
    const set = await assertOneValidSet(t, cluster, ns.namespace)
    for (const r of runs) await assertFiles(t, r.tlsDir, set)
  })

  await t.test('Secret behaviours (409, guarded update, foreign Secrets, 403) against the real apiserver', async (t) => {
    // One service account for every case, bound by the chart's Role in each case's namespace.
    const home = await createContourNamespace(cluster, 'bhv-home')
    defineSecretBehaviours(t, {
      kubeconfigPath: home.contourKubeconfig,
      async newNamespace() {
        const ns = await cluster.createNamespace('bhv')
        await grantSecretsRole(cluster, ns, { name: 'contour', namespace: home.namespace })
        return ns
      },
      async forbidden() {
        return { kubeconfigPath: await cluster.serviceAccountKubeconfig(home.namespace, 'envoy'), serviceAccount: `${home.namespace}:envoy` }
      },
    })
  })
}
