// 7. Taking over certgen's TLS, end to end: the v1.33.6 `contour.yaml` applied exactly as it
// ships, the Gateway provisioner's pods (serve --contour-config-name against a real
// ContourConfiguration), and the official chart installed with helm from its rendered copy. For
// each, the stored pods are taken over, `bootstrap-tls` runs with the stored init container's
// own arguments as Contour's service account, the test plays the kubelet for the stored pods'
// mounts (every path lives under one directory standing in for the container's root), the real
// `contour bootstrap` writes Envoy's files with the stored flags, and the real `contour serve`
// answers an ADS call over mutual TLS 1.3 from a client holding exactly the files Envoy reads.
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { V1Container, V1Pod } from '@kubernetes/client-node'
import type { Test } from 'tap'
import YAML from 'yaml'
import { Binaries, NODE_BIN, REPO_ROOT } from '../../scripts/cluster/paths.ts'
import { waitFor, type Log } from '../../scripts/cluster/wait.ts'
import { INIT_CONTAINER_NAME, NAMESPACE_LABEL } from '../../src/core/injection/types.ts'
import type { SecretNames } from '../../src/core/injection/types.ts'
import { startFakeKubelet, type FakeKubelet } from '../bootstrap/fake-kubelet.ts'
import { readSet, secretAdmin } from '../bootstrap/secret-admin.ts'
import { checkTakenOverPod } from '../core/injection/support/check-taken-over-pod.ts'
import { readYamlFile } from '../core/injection/support/golden-files.ts'
import { chartFixturesDir, contourFixturesDir, repoRoot, YAML_OPTIONS } from '../core/injection/support/load-upstream-pods.ts'
import { readArgv } from '../core/injection/support/upstream-variants.ts'
import { helm } from '../chart/helm.ts'
import { run, type TestCluster } from '../helpers/cluster.ts'
import { expectRole, normalisePod, podsByWorkload, waitForPods } from './pods.ts'
import { dataSourceFilenames, loopbackPorts } from './real-contour.ts'
import { grantSecretsRole } from './secrets.ts'
import { fetchResources, probe } from './xds-client.ts'

const ENABLED = { [NAMESPACE_LABEL.key]: NAMESPACE_LABEL.value }
const setNames = (suffix: string): SecretNames => ({ contour: `contour-tls${suffix}`, envoy: `envoy-tls${suffix}`, ca: `contour-ca${suffix}` })

function container(pod: V1Pod, predicate: (c: V1Container) => boolean, what: string): V1Container {
  const found = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].find(predicate)
  if (found === undefined) throw new Error(`${pod.metadata?.name}: no ${what}`)
  return found
}
const isServe = (c: V1Container) => readArgv(c).includes('serve') && readArgv(c)[0]?.endsWith('contour') === true
const isBootstrap = (c: V1Container) => readArgv(c).includes('bootstrap') && readArgv(c)[0]?.endsWith('contour') === true

/** The test as the kubelet: every Secret volume `c` mounts, projected to `<root><mountPath>` and refreshed as the Secret changes. */
function projectMounts(cluster: TestCluster, namespace: string, pod: V1Pod, c: V1Container, root: string): FakeKubelet {
  const mounts: Record<string, string> = {}
  for (const mount of c.volumeMounts ?? []) {
    const secretName = pod.spec?.volumes?.find((v) => v.name === mount.name)?.secret?.secretName
    if (secretName !== undefined) mounts[mount.mountPath] = secretName
  }
  return startFakeKubelet(secretAdmin(cluster.kubeconfig, namespace), root, mounts, 50)
}

/** Maps the absolute paths of a stored pod's argv into the directory that stands in for its root. */
function underRoot(token: string, root: string, prefixes: readonly string[]): string {
  for (const prefix of prefixes) {
    if (token.startsWith(prefix)) return `${root}${token}`
    const eq = token.indexOf('=')
    if (eq > 0 && token.slice(eq + 1).startsWith(prefix)) return `${token.slice(0, eq + 1)}${root}${token.slice(eq + 1)}`
  }
  return token
}

/** `bootstrap-tls` with the stored pod's init container arguments, as Contour's service account, the test playing the kubelet. */
async function runStoredBootstrapTls(t: Test, cluster: TestCluster, namespace: string, pod: V1Pod, serviceAccount: string, root: string): Promise<void> {
  const init = container(pod, (c) => c.name === INIT_CONTAINER_NAME, 'bootstrap-tls')
  const kubeconfig = await cluster.serviceAccountKubeconfig(namespace, serviceAccount)
  for (const mount of init.volumeMounts ?? []) await mkdir(join(root, mount.mountPath), { recursive: true })
  const kubelet = projectMounts(cluster, namespace, pod, init, root)
  try {
    const args = [...(init.args ?? []), `--kubeconfig=${kubeconfig}`, `--namespace=${namespace}`, `--tls-dir=${root}/etc/tls`, '--wait-timeout=90s']
    const res = await run(NODE_BIN, [join(REPO_ROOT, 'src', 'cli.ts'), ...args], { timeoutMs: 120_000 })
    t.equal(res.code, 0, `bootstrap-tls ${(init.args ?? []).join(' ')} as ${serviceAccount}`, { stderr: res.stderr })
  } finally {
    await kubelet.stop()
  }
}

/** Envoy's files as the real `contour bootstrap` writes them from the stored pod's flags; the client TLS read from exactly the paths it names. */
async function runStoredContourBootstrap(t: Test, cluster: TestCluster, namespace: string, pod: V1Pod, root: string, names: SecretNames): Promise<{ ca: string; cert: string; key: string }> {
  const c = container(pod, isBootstrap, 'contour bootstrap')
  const kubelet = projectMounts(cluster, namespace, pod, c, root)
  await waitFor('the Envoy pod\'s mounts', async () => ((await readdir(join(root, '/etc/tls/envoy')).catch((): string[] => [])).includes('tls.crt') ? true : undefined), { timeoutMs: 30_000, log: () => undefined })
  await kubelet.stop()
  await mkdir(join(root, '/config'), { recursive: true })
  const argv = readArgv(c).map((token) => underRoot(token, root, ['/etc/tls/', '/config/', '/certs/']))
  const res = await run(Binaries.contour, argv.slice(1))
  t.equal(res.code, 0, `the real contour bootstrap with the stored flags: ${readArgv(c).slice(1).join(' ')}`, { stderr: res.stderr })
  const filenames = await dataSourceFilenames(join(root, '/config'))
  const pick = (suffix: string) => filenames.find((f) => f.endsWith(suffix)) ?? ''
  const files = { ca: pick('/ca.crt'), cert: pick('/tls.crt'), key: pick('/tls.key') }
  for (const [what, file] of Object.entries(files)) t.ok(file.startsWith(`${root}/etc/tls/`), `Envoy reads its ${what} from ${file.slice(root.length)}, in our mounts`)
  const client = { ca: await readFile(files.ca, 'utf8'), cert: await readFile(files.cert, 'utf8'), key: await readFile(files.key, 'utf8') }
  const set = await readSet(secretAdmin(cluster.kubeconfig, namespace), names)
  t.equal(client.cert, set.envoyCert, `Envoy's certificate file holds ${names.envoy}`)
  t.equal(client.ca, set.caCert, `Envoy's CA file holds ${names.ca}`)
  return client
}

/** `contour-tls-injector status` against the real apiserver, as an admin: the sets bootstrap-tls wrote, healthy. */
async function checkStatusCommand(t: Test, cluster: TestCluster, namespace: string, instances: readonly string[]): Promise<void> {
  const text = await run(NODE_BIN, [join(REPO_ROOT, 'src', 'cli.ts'), 'status', `--kubeconfig=${cluster.kubeconfig}`, `--namespace=${namespace}`])
  t.equal(text.code, 0, 'status exits 0 for healthy sets', { stderr: text.stderr })
  for (const instance of instances) t.match(text.stdout, `set contour-ca${instance}, contour-tls${instance}, envoy-tls${instance} in ${namespace}`)
  t.match(text.stdout, /health: {3}ok/)
  t.notMatch(text.stdout, /PRIVATE KEY|BEGIN/, 'no key or PEM in the report')
  const json = await run(NODE_BIN, [join(REPO_ROOT, 'src', 'cli.ts'), 'status', `--kubeconfig=${cluster.kubeconfig}`, `--namespace=${namespace}`, '--output=json'])
  const parsed = JSON.parse(json.stdout) as { sets: Array<{ instance: string; health: string; cas: unknown[] }> }
  t.same(parsed.sets.map((s) => [s.instance, s.health, s.cas.length]), instances.map((i) => [i, 'ok', 1]), '--output=json: the same sets')
}

/** The real `contour serve` answering ADS over mutual TLS 1.3 to `client`. */
async function checkServeAnswers(t: Test, cluster: TestCluster, argv: readonly string[], xds: number, client: { ca: string; cert: string; key: string }, log: Log, env: Record<string, string> = {}): Promise<void> {
  const proc = await cluster.startDaemon('contour-serve-take-over', argv, env)
  try {
    const accepted = await waitFor(`contour serve's xDS port ${xds}`, async () => {
      const r = await probe(xds, client)
      if (!r.accepted) throw new Error(r.error)
      return r
    }, { timeoutMs: 60_000, log, hint: `see ${proc.log}` }).catch((err: Error) => err)
    if (accepted instanceof Error) return void t.fail(accepted.message)
    t.equal(accepted.protocol, 'TLSv1.3', 'mutual TLS 1.3 with the Envoy files')
    t.ok(accepted.authorized, 'the Contour certificate verifies against Envoy\'s CA file for the name "contour"')
    const res = await fetchResources(xds, client, 'type.googleapis.com/envoy.config.cluster.v3.Cluster').catch((err: Error) => err)
    if (res instanceof Error) t.fail(`ADS: ${res.message}`)
    else t.match(res.grpcContentType, /^application\/grpc/, `gRPC ADS answered (${res.resources} clusters)`)
  } finally {
    await cluster.stopDaemon('contour-serve-take-over', proc)
  }
}

/** The stored serve container's TLS flags, mapped under `root`: exactly what the webhook left there. */
function storedServeTlsFlags(pod: V1Pod, root: string): string[] {
  const argv = readArgv(container(pod, isServe, 'contour serve'))
  return argv.filter((a) => /^--contour-(cafile|cert-file|key-file)=/.test(a)).map((a) => underRoot(a, root, ['/etc/tls/']))
}

export async function testTakeOver(t: Test, cluster: TestCluster, log: Log): Promise<void> {
  const settings = cluster.webhookSettings

  await t.test('the v1.33.6 contour.yaml applied as it ships', async (t) => {
    const ns = 'projectcontour'
    // Labelled first, as a user does before applying; the manifest's own Namespace object then applies over it.
    await cluster.api.call('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: ENABLED } })
    const file = join(contourFixturesDir, 'v1.33.6', 'contour.yaml')
    const applied = await cluster.kubectl(['apply', '-f', file], { timeoutMs: 120_000 })
    t.equal(applied.code, 0, `kubectl apply -f ${file}`, { stderr: applied.stderr })
    const pods = await waitForPods(cluster.api, ns, new Map([['Deployment/contour', 2], ['DaemonSet/envoy', 1]]), log)
    const templates = YAML.parseAllDocuments(await readFile(file, 'utf8'), YAML_OPTIONS).map((d) => d.toJS() as { kind?: string; metadata?: { name?: string }; spec?: { template?: { metadata?: Record<string, unknown>; spec?: unknown } } } | null)
    const inputOf = (kind: string, name: string): V1Pod => {
      const w = templates.find((d) => d?.kind === kind && d.metadata?.name === name)
      return { apiVersion: 'v1', kind: 'Pod', metadata: { labels: w?.spec?.template?.metadata?.labels as Record<string, string> }, spec: w?.spec?.template?.spec as V1Pod['spec'] }
    }
    const expected = { 'Deployment/contour': ['contourcert'], 'DaemonSet/envoy': ['envoycert'] } as const
    for (const [key, replaced] of Object.entries(expected)) {
      for (const pod of pods.get(key) ?? []) {
        const [kind, name] = key.split('/') as [string, string]
        const normal = normalisePod(pod)
        // Stored pods carry the apiserver's defaults; the take-over check compares with the manifest as the apiserver defaults it.
        const input = withDefaultsOf(inputOf(kind, name), normal)
        t.test(`${key}: stored pod ${pod.metadata?.name} is taken over`, async (t) => checkTakenOverPod(t, input, normal, expectRole(input), settings, { replaced, secretNames: settings.secretNames }))
      }
    }
    await grantSecretsRole(cluster, ns, { name: 'contour', namespace: ns })
    const contour = pods.get('Deployment/contour')?.[0]
    const envoy = pods.get('DaemonSet/envoy')?.[0]
    if (contour === undefined || envoy === undefined) return void t.fail('no pods')
    const root = await cluster.tmpDir('contour-root')
    await runStoredBootstrapTls(t, cluster, ns, contour, 'contour', root)
    await checkStatusCommand(t, cluster, ns, [''])
    const envoyRoot = await cluster.tmpDir('envoy-root')
    const client = await runStoredContourBootstrap(t, cluster, ns, envoy, envoyRoot, settings.secretNames)
    const contourKubelet = projectMounts(cluster, ns, contour, container(contour, isServe, 'serve'), root)
    try {
      const ports = await loopbackPorts()
      const tls = storedServeTlsFlags(contour, root)
      t.equal(tls.length, 3, `serve keeps its three flags, now ${tls.map((f) => f.replace(root, '')).join(' ')}`)
      await checkServeAnswers(t, cluster, [Binaries.contour, 'serve', `--kubeconfig=${cluster.kubeconfig}`, ...ports.flags, ...tls], ports.xds, client, log)
    } finally {
      await contourKubelet.stop()
    }
  })

  await t.test('the Gateway provisioner\'s pods: serve --contour-config-name against a real ContourConfiguration', async (t) => {
    const ns = await cluster.createNamespace('gateway', ENABLED)
    for (const name of ['contour-gw', 'envoy-gw']) await cluster.api.call('POST', `/api/v1/namespaces/${ns}/serviceaccounts`, { metadata: { name } })
    await grantSecretsRole(cluster, ns, { name: 'contour-gw', namespace: ns }, ['-gw'])
    const fixture = (name: string): V1Pod => {
      const pod = readYamlFile(join(repoRoot, 'test/fixtures/injection/cases', `${name}.yaml`)) as V1Pod
      return { ...pod, metadata: { ...pod.metadata, namespace: ns } }
    }
    const [contourInput, envoyInput] = [fixture('provisioner-contour'), fixture('provisioner-envoy')]
    const contour = await cluster.api.call<V1Pod>('POST', `/api/v1/namespaces/${ns}/pods`, contourInput)
    const envoy = await cluster.api.call<V1Pod>('POST', `/api/v1/namespaces/${ns}/pods`, envoyInput)
    for (const [stored, input, replaced] of [[contour, contourInput, ['contourcert-gw']], [envoy, envoyInput, ['envoycert-gw']]] as const) {
      const normal = normalisePod(stored)
      const base = withDefaultsOf({ apiVersion: 'v1', kind: 'Pod', metadata: { labels: input.metadata?.labels }, spec: input.spec }, normal)
      t.test(`stored ${stored.metadata?.generateName}* pod is taken over for instance -gw`, async (t) => checkTakenOverPod(t, base, normal, expectRole(base), settings, { replaced, secretNames: setNames('-gw') }))
    }
    const root = await cluster.tmpDir('gw-contour-root')
    await runStoredBootstrapTls(t, cluster, ns, contour, 'contour-gw', root)
    await checkStatusCommand(t, cluster, ns, ['-gw'])
    const client = await runStoredContourBootstrap(t, cluster, ns, envoy, await cluster.tmpDir('gw-envoy-root'), setNames('-gw'))
    const serve = container(contour, isServe, 'serve')
    const volume = contour.spec?.volumes?.find((v) => v.name === 'contourcert')
    t.equal(volume?.secret?.secretName, 'contour-tls-gw', 'the /certs volume now shows contour-tls-gw')
    const kubelet = projectMounts(cluster, ns, contour, serve, root)
    try {
      await waitFor('/certs filled', async () => ((await readdir(join(root, '/certs')).catch((): string[] => [])).includes('tls.key') ? true : undefined), { timeoutMs: 30_000, log: () => undefined })
      const ports = await loopbackPorts()
      // As the provisioner runs it: the flags it gives, the rest in the ContourConfiguration. The
      // object moves listeners to loopback ports, and its TLS paths (default /certs/...) under root.
      const configName = readArgv(serve).find((a) => a.startsWith('--contour-config-name='))?.split('=')[1] ?? ''
      await cluster.api.call('POST', `/apis/projectcontour.io/v1alpha1/namespaces/${ns}/contourconfigurations`, {
        apiVersion: 'projectcontour.io/v1alpha1', kind: 'ContourConfiguration', metadata: { name: configName },
        spec: {
          xdsServer: { address: '127.0.0.1', port: ports.xds, tls: { caFile: `${root}/certs/ca.crt`, certFile: `${root}/certs/tls.crt`, keyFile: `${root}/certs/tls.key` } },
          metrics: { address: '127.0.0.1', port: ports.metrics }, health: { address: '127.0.0.1', port: ports.health }, debug: { address: '127.0.0.1', port: ports.debug },
          envoy: { service: { name: 'envoy-gw', namespace: ns } },
        },
      })
      const argv = readArgv(serve).filter((a) => a !== '--incluster' && !/^--xds-(address|port)=/.test(a))
      const storedTls = argv.filter((a) => a.startsWith('--contour-'))
      t.same(storedTls.filter((a) => !a.startsWith('--contour-config-name')), ['--contour-cafile=/certs/ca.crt', '--contour-cert-file=/certs/tls.crt', '--contour-key-file=/certs/tls.key'], 'the flags serve ignores are left as they were')
      // Contour finds its ContourConfiguration in CONTOUR_NAMESPACE, as the provisioner's pod sets it.
      await checkServeAnswers(t, cluster, [Binaries.contour, ...argv.slice(1), `--kubeconfig=${cluster.kubeconfig}`, '--disable-leader-election'], ports.xds, client, log, { CONTOUR_NAMESPACE: ns })
    } finally {
      await kubelet.stop()
    }
  })

  await t.test('the official chart installed with helm install from its rendered copy', async (t) => {
    const ns = await cluster.createNamespace('chart-official', ENABLED)
    const dir = await cluster.tmpDir('official-chart')
    const rendered = await readFile(join(chartFixturesDir, 'projectcontour-contour-0.7.0.yaml'), 'utf8')
    // The chart as rendered, in the test's namespace; cluster-scoped objects (ClusterRole,
    // IngressClass) are the suite's business elsewhere and left out.
    const docs = YAML.parseAllDocuments(rendered, YAML_OPTIONS).map((d) => d.toJS() as { kind?: string; metadata?: { namespace?: string } } | null)
    const namespaced = docs.filter((d) => d !== null && d.kind !== undefined && !['ClusterRole', 'ClusterRoleBinding', 'IngressClass', 'CustomResourceDefinition'].includes(d.kind))
    for (const d of namespaced) if (d?.metadata !== undefined) d.metadata.namespace = ns
    await mkdir(join(dir, 'templates'))
    await writeFile(join(dir, 'Chart.yaml'), 'apiVersion: v2\nname: contour-rendered\nversion: 0.7.0\n')
    await writeFile(join(dir, 'templates', 'rendered.yaml'), namespaced.map((d) => YAML.stringify(d)).join('---\n'))
    // --no-hooks: the chart's certgen hook Job would never finish without a kubelet; its Secrets are what is taken over, not needed here.
    const installed = await helm(['install', 'contour', dir, '--namespace', ns, '--kubeconfig', cluster.kubeconfig, '--no-hooks'])
    t.equal(installed.code, 0, 'helm install', { stderr: installed.stderr })
    const groups = await waitForPods(cluster.api, ns, new Map([['Deployment/contour-contour', 1], ['DaemonSet/contour-envoy', 1]]), log)
    const contour = groups.get('Deployment/contour-contour')?.[0]
    const envoy = groups.get('DaemonSet/contour-envoy')?.[0]
    if (contour === undefined || envoy === undefined) return void t.fail(`pods: ${[...(await podsByWorkload(cluster.api, ns)).keys()].join(', ')}`)
    t.match(contour.metadata?.annotations?.['contour-tls-injection/status'], /^injected; role=contour; replaced=contourcert; /)
    t.match(envoy.metadata?.annotations?.['contour-tls-injection/status'], /^injected; role=envoy; replaced=envoycert; /)
    const sa = contour.spec?.serviceAccountName ?? ''
    await grantSecretsRole(cluster, ns, { name: sa, namespace: ns })
    const root = await cluster.tmpDir('chart-contour-root')
    await runStoredBootstrapTls(t, cluster, ns, contour, sa, root)
    const client = await runStoredContourBootstrap(t, cluster, ns, envoy, await cluster.tmpDir('chart-envoy-root'), settings.secretNames)
    const kubelet = projectMounts(cluster, ns, contour, container(contour, isServe, 'serve'), root)
    try {
      const ports = await loopbackPorts()
      await checkServeAnswers(t, cluster, [Binaries.contour, 'serve', `--kubeconfig=${cluster.kubeconfig}`, ...ports.flags, ...storedServeTlsFlags(contour, root)], ports.xds, client, log)
    } finally {
      await kubelet.stop()
    }
  })
}

/**
 * The manifest's pod with what the apiserver adds to every stored pod copied from `stored`
 * (container defaults, pod defaults, Secret defaultMode), so the take-over check sees only what
 * the webhook changed. Only members the manifest lacks are copied; the webhook's own parts are
 * removed from the copy first by the check itself.
 */
function withDefaultsOf(input: V1Pod, stored: V1Pod): V1Pod {
  const merged = structuredClone(input)
  // The controllers' own labels; the webhook never touches labels.
  for (const label of ['pod-template-hash', 'controller-revision-hash', 'pod-template-generation']) {
    const value = stored.metadata?.labels?.[label]
    if (value !== undefined) merged.metadata = { ...merged.metadata, labels: { ...merged.metadata?.labels, [label]: value } }
  }
  const fill = (target: Record<string, unknown>, source: Record<string, unknown>): void => {
    for (const [key, value] of Object.entries(source)) {
      if (target[key] === undefined) target[key] = structuredClone(value)
      else if (isPlain(target[key]) && isPlain(value)) fill(target[key] as Record<string, unknown>, value as Record<string, unknown>)
      else if (Array.isArray(target[key]) && Array.isArray(value) && key !== 'args' && key !== 'command' && key !== 'volumeMounts') {
        const list = target[key] as unknown[]
        value.forEach((item, i) => {
          const mine = list.find((x) => isPlain(x) && isPlain(item) && (x as { name?: unknown }).name !== undefined && (x as { name?: unknown }).name === (item as { name?: unknown }).name) ?? list[i]
          if (isPlain(mine) && isPlain(item)) fill(mine as Record<string, unknown>, item as Record<string, unknown>)
        })
      }
    }
  }
  const storedSpec = structuredClone(stored.spec) as unknown as Record<string, unknown>
  // What the webhook added is not a default: leave it out of the copy.
  delete storedSpec.initContainers
  const volumes = (storedSpec.volumes as Array<{ name: string }> | undefined)?.filter((v) => !v.name.startsWith('contour-tls-injection-'))
  storedSpec.volumes = volumes
  fill(merged.spec as unknown as Record<string, unknown>, storedSpec)
  const storedInit = stored.spec?.initContainers?.filter((c) => c.name !== INIT_CONTAINER_NAME) ?? []
  for (const [i, c] of (merged.spec?.initContainers ?? []).entries()) {
    const s = storedInit.find((x) => x.name === c.name) ?? storedInit[i]
    if (s !== undefined) fill(c as unknown as Record<string, unknown>, { ...s, volumeMounts: undefined } as unknown as Record<string, unknown>)
  }
  return merged
}

function isPlain(v: unknown): boolean {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}
