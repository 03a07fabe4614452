// 4. Real Contour (.bin/contour, v1.33.6) with exactly the TLS flags the webhook injected into
// stored pods: `contour serve` accepts the Envoy certificate over TLS 1.3 and answers a gRPC ADS
// call; clients without a certificate or from another CA are refused; `contour bootstrap`
// accepts the injected Envoy flags and writes TLS settings pointing under /etc/tls.
import { cp, mkdir, readdir, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { V1Pod } from '@kubernetes/client-node'
import type { Test } from 'tap'
import { freePort } from '../../scripts/cluster/health.ts'
import { Binaries } from '../../scripts/cluster/paths.ts'
import { waitFor, type Log } from '../../scripts/cluster/wait.ts'
import { issueCertificateSet } from '../../src/core/certs/issue-set.ts'
import { NAMESPACE_LABEL } from '../../src/core/injection/types.ts'
import { run, type TestCluster } from '../helpers/cluster.ts'
import { loadRelease } from './contour-manifests.ts'
import { contourPod } from './injection.ts'
import { createContourNamespace, runBootstrapProcess } from './secrets.ts'
import { fetchResources, probe } from './xds-client.ts'

export interface LoopbackPorts {
  readonly xds: number
  readonly metrics: number
  readonly health: number
  readonly debug: number
  /** serve's flags putting every listener on those loopback ports, without leader election. */
  readonly flags: readonly string[]
}

/** Free loopback ports for every listener of `contour serve`. */
export async function loopbackPorts(): Promise<LoopbackPorts> {
  const [xds, metrics, health, debug] = [await freePort(), await freePort(), await freePort(), await freePort()]
  return {
    xds, metrics, health, debug,
    flags: ['--disable-leader-election', '--xds-address=127.0.0.1', `--xds-port=${xds}`, '--http-address=127.0.0.1', `--http-port=${metrics}`, '--health-address=127.0.0.1', `--health-port=${health}`, '--debug-http-address=127.0.0.1', `--debug-http-port=${debug}`],
  }
}

const flagValues = (args: readonly string[], prefix: string): string[] => args.filter((a) => a.startsWith(prefix))

async function storedPod(cluster: TestCluster, namespace: string, pod: unknown): Promise<V1Pod> {
  return cluster.api.call<V1Pod>('POST', `/api/v1/namespaces/${namespace}/pods`, pod)
}

/** Every `"filename": "..."` in the files under `dir` (Envoy's DataSource paths). */
export async function dataSourceFilenames(dir: string): Promise<string[]> {
  const names: string[] = []
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue
    const text = await readFile(join(entry.parentPath, entry.name), 'utf8')
    for (const m of text.matchAll(/"filename":\s*"([^"]+)"/g)) if (m[1] !== undefined) names.push(m[1])
  }
  return names
}

export async function testRealContour(t: Test, cluster: TestCluster, log: Log): Promise<void> {
  const root = cluster.webhookSettings.mountRoot
  const crds = await cluster.kubectl(['apply', '--server-side', '-f', Binaries.contourCrds], { timeoutMs: 120_000 })
  t.equal(crds.code, 0, 'Contour CRDs installed', { stderr: crds.stderr })
  const established = await cluster.kubectl(['wait', '--for=condition=Established', 'crd', '--all', '--timeout=60s'], { timeoutMs: 90_000 })
  t.equal(established.code, 0, 'CRDs established', { stderr: established.stderr })

  const ns = await createContourNamespace(cluster, 'real', { [NAMESPACE_LABEL.key]: NAMESPACE_LABEL.value })
  const contour = await storedPod(cluster, ns.namespace, contourPod(ns.namespace))
  const envoyWorkload = loadRelease('v1.33.6', ns.namespace).workloads.find((w) => w.kind === 'DaemonSet')
  const envoy = await storedPod(cluster, ns.namespace, { ...envoyWorkload?.pod, metadata: { ...envoyWorkload?.pod.metadata, name: 'envoy-e2e' } })
  const serveArgs = contour.spec?.containers.find((c) => c.name === 'contour')?.args ?? []
  const initArgs = envoy.spec?.initContainers?.find((c) => c.name === 'envoy-initconfig')?.args ?? []
  const serveTls = ['--contour-cafile=', '--contour-cert-file=', '--contour-key-file='].flatMap((p) => flagValues(serveArgs, p))
  const envoyTls = ['--envoy-cafile=', '--envoy-cert-file=', '--envoy-key-file='].flatMap((p) => flagValues(initArgs, p))
  t.equal(serveTls.length, 3, 'the stored Contour pod carries the three serve flags')
  t.equal(envoyTls.length, 3, 'the stored Envoy pod carries the three bootstrap flags')

  // The Secrets as bootstrap-tls writes them, projected into a directory that stands in for /etc/tls.
  const boot = await runBootstrapProcess(cluster, ns, { mounts: ['contour', 'envoy', 'ca'] })
  t.equal(boot.code, 0, 'bootstrap-tls exit code', { stderr: boot.stderr })
  const local = (flag: string) => flag.replace(`=${root}/`, `=${boot.tlsDir}/`)
  const file = (sub: string) => readFile(join(boot.tlsDir, sub), 'utf8')
  const envoyClient = { ca: await file('ca/ca.crt'), cert: await file('envoy/tls.crt'), key: await file('envoy/tls.key') }

  await t.test('contour serve with the injected flags accepts only the Envoy certificate', async (t) => {
    const ports = await loopbackPorts()
    const xds = ports.xds
    const argv = [Binaries.contour, 'serve', `--kubeconfig=${cluster.kubeconfig}`, ...ports.flags, ...serveTls.map(local)]
    const proc = await cluster.startDaemon('contour-serve', argv)
    t.teardown(() => cluster.stopDaemon('contour-serve', proc))
    log(`started contour serve (pid ${proc.pid}) with ${serveTls.map(local).join(' ')}`)
    await waitFor(`contour serve's xDS port ${xds}`, async () => {
      const r = await probe(xds, envoyClient)
      if (!r.accepted) throw new Error(r.error)
      return r
    }, { timeoutMs: 60_000, log, hint: `see ${proc.log}` }).then(
      (r) => {
        t.equal(r.protocol, 'TLSv1.3', 'TLS 1.3')
        t.equal(r.alpn, 'h2', 'ALPN h2')
        t.ok(r.authorized, 'the server certificate verifies against the CA for the name "contour"')
      },
      (err: Error) => t.fail(err.message),
    )
    for (const typeUrl of ['type.googleapis.com/envoy.config.listener.v3.Listener', 'type.googleapis.com/envoy.config.cluster.v3.Cluster']) {
      const res = await fetchResources(xds, envoyClient, typeUrl).catch((err: Error) => err)
      if (res instanceof Error) t.fail(`ADS call for ${typeUrl}: ${res.message}`)
      else {
        t.equal(res.typeUrl, typeUrl, `gRPC ADS answered a DiscoveryResponse for ${typeUrl.split('.').at(-1)} (${res.resources} resources, version "${res.versionInfo}")`)
        t.match(res.grpcContentType, /^application\/grpc/)
      }
    }
    const noCert = await probe(xds, { ca: envoyClient.ca })
    t.notOk(noCert.accepted, `a client without a certificate is refused (${noCert.error ?? ''})`)
    const stranger = await issueCertificateSet({ namespace: ns.namespace })
    const otherCa = await probe(xds, { ca: envoyClient.ca, cert: stranger.envoyCert, key: stranger.envoyKey })
    t.notOk(otherCa.accepted, `a client certificate from another CA is refused (${otherCa.error ?? ''})`)
    const wrongName = await probe(xds, { ...envoyClient, servername: 'envoy' })
    t.notOk(wrongName.accepted, `the server certificate does not pass for another name (${wrongName.error ?? ''})`)
  })

  await t.test('contour bootstrap accepts the injected Envoy flags and points Envoy under /etc/tls', async (t) => {
    const out = await cluster.tmpDir('envoy-config')
    // The pod's emptyDir paths (/config/...) move to a temporary directory; the TLS flags stay as
    // injected when /etc/tls can be materialised (root, and /etc/tls absent), else they are mapped.
    const real = process.getuid?.() === 0 && (await mkdir(root, { recursive: false }).then(() => true, () => false))
    if (real) {
      t.teardown(() => rm(root, { recursive: true, force: true }))
      for (const m of ['ca', 'envoy']) await cp(join(boot.tlsDir, m), join(root, m), { recursive: true, dereference: true })
    }
    t.comment(real ? `materialised the Envoy files at ${root} (running as root)` : `${root} not writable or present: flags mapped to ${boot.tlsDir}`)
    const tls = real ? envoyTls : envoyTls.map(local)
    const args = initArgs
      .filter((a) => !envoyTls.includes(a))
      .map((a) => (a === '/config/envoy.json' ? join(out, 'envoy.json') : a.replace('=/config/', `=${out}/`)))
    const res = await run(Binaries.contour, [...args, ...tls])
    t.equal(res.code, 0, `contour ${args.join(' ')} ${tls.join(' ')}`, { stderr: res.stderr })
    const filenames = await dataSourceFilenames(out)
    const expected = tls.map((f) => f.slice(f.indexOf('=') + 1))
    for (const path of expected) t.ok(filenames.includes(path), `Envoy's config reads ${path}`)
    const tlsFiles = filenames.filter((f) => /\.(crt|key)$/.test(f))
    t.ok(tlsFiles.length > 0 && tlsFiles.every((f) => f.startsWith(real ? `${root}/` : `${boot.tlsDir}/`)), `every TLS file is under ${real ? root : boot.tlsDir}: ${tlsFiles.join(', ')}`)
    const config = await readFile(join(out, 'envoy.json'), 'utf8')
    t.match(config, /"contour"/, 'the bootstrap pins the xDS server name "contour"')
  })
}
