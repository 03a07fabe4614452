// 8. The certificate lifecycle against the real kube-apiserver:
// - the simulation (test/sim), shortened, with Contour's service account and the chart's RBAC;
// - the real `contour serve` while a renewal, a requested rotation and the drop of the expired CA
//   run with short lifetimes and delays: an xDS client holding the Envoy files (re-read on every
//   connection, as Envoy's SDS does) reconnects every few hundred ms, the test plays the kubelet
//   with a lag, bootstrap-tls runs as a sidecar would, and no handshake may fail.
import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Test } from 'tap'
import { runBootstrapTls } from '../../src/bootstrap/main.ts'
import { RequestAnnotations, SecretAnnotations } from '../../src/bootstrap/secret-model.ts'
import { splitCertificates } from '../../src/core/certs/pem-bundle.ts'
import { issueCertificateSet } from '../../src/core/certs/issue-set.ts'
import { loadApiTarget } from '../../src/kube/api-target.ts'
import { createHttpsSecretStore } from '../../src/kube/https-secret-store.ts'
import { Binaries } from '../../scripts/cluster/paths.ts'
import { waitFor } from '../../scripts/cluster/wait.ts'
import { startFakeKubelet } from '../bootstrap/fake-kubelet.ts'
import { recordingIO } from '../bootstrap/fake-io.ts'
import { DEFAULT_NAMES, readSet, secretAdmin, seedSet } from '../bootstrap/secret-admin.ts'
import type { TestCluster } from '../helpers/cluster.ts'
import { describeFigures, runWorld } from '../sim/run-world.ts'
import { loopbackPorts } from './real-contour.ts'
import { createContourNamespace } from './secrets.ts'
import { fetchResources, probe } from './xds-client.ts'

type Log = (line: string) => void
const DAY = 86_400_000

export async function testRotation(t: Test, cluster: TestCluster, log: Log): Promise<void> {
  await t.test('the lifecycle simulation, shortened, against the real apiserver as Contour\'s service account (the chart\'s RBAC), from a certgen install', async (t) => {
    const ns = await createContourNamespace(cluster, 'sim')
    const target = await loadApiTarget({ kubeconfig: ns.contourKubeconfig, namespace: ns.namespace, env: {} })
    const store = createHttpsSecretStore({ connection: target.connection, namespace: ns.namespace, identity: target.identity, requestTimeoutMs: 10_000 })
    try {
      // Twelve-day sets renew every eight days: 40 days hold renewals, rotations, a revocation and crashes.
      const { figures, wallMs } = await runWorld(store, {
        years: 40 / 365, migration: true, lifetimeDays: 12, meanDaysBetweenRotations: 6, meanDaysBetweenContourCrashes: 4, meanDaysBetweenEnvoyRestarts: 3, meanDaysBetweenReconnects: 1, namespace: ns.namespace,
      })
      for (const line of describeFigures(figures, wallMs)) t.comment(`figure: ${line}`)
      t.equal(figures.failures, 0, 'no handshake between pods that can coexist failed', { samples: figures.failureSamples })
      t.ok(figures.renewals > 0 && figures.rotationsDone > 0 && (figures.steps.switch ?? 0) > 0 && (figures.steps.drop ?? 0) > 0, 'renewal, rotation, switch and drop all ran against the real apiserver')
      t.ok(figures.handshakes > 100, `real handshakes happened (${figures.handshakes})`)
      t.ok(figures.migrationHandshakes > 0, 'it started from certgen\'s set in use by old pods: migrated with old and new pods handshaking')
    } finally {
      store.close()
    }
  })

  await t.test('real contour serve across a renewal, a requested rotation and the drop of the expired CA: 0 failed handshakes', async (t) => {
    const ns = await createContourNamespace(cluster, 'rotate')
    const admin = secretAdmin(cluster.kubeconfig, ns.namespace)
    // A set of ours with 50 s left: due for renewal at once, and its CA expires during the test.
    const aging = await issueCertificateSet({ namespace: ns.namespace, now: new Date(Date.now() - 365 * DAY + 50_000) })
    await seedSet(admin, aging)
    const contourDir = await cluster.tmpDir('rotation-contour')
    const envoyDir = await cluster.tmpDir('rotation-envoy')
    for (const dir of [join(contourDir, 'contour'), join(contourDir, 'ca'), join(envoyDir, 'envoy'), join(envoyDir, 'ca')]) await mkdir(dir, { recursive: true })
    // The kubelet, with its lag: each mount gets a change up to 1.5 s later, each on its own.
    const LAG_MS = 1500
    const kubelets = [
      startFakeKubelet(admin, contourDir, { contour: DEFAULT_NAMES.contour, ca: DEFAULT_NAMES.ca }, 50, LAG_MS),
      startFakeKubelet(admin, envoyDir, { envoy: DEFAULT_NAMES.envoy, ca: DEFAULT_NAMES.ca }, 50, LAG_MS),
    ]
    t.teardown(() => Promise.all(kubelets.map((k) => k.stop())))
    await waitFor('the kubelet to project the first set', async () => ((await readFile(join(envoyDir, 'ca', 'ca.crt'), 'utf8').catch(() => '')) !== '' ? true : undefined), { timeoutMs: 10_000, log })

    const ports = await loopbackPorts()
    const argv = [Binaries.contour, 'serve', `--kubeconfig=${cluster.kubeconfig}`, ...ports.flags, `--contour-cafile=${contourDir}/ca/ca.crt`, `--contour-cert-file=${contourDir}/contour/tls.crt`, `--contour-key-file=${contourDir}/contour/tls.key`]
    const proc = await cluster.startDaemon('contour-serve-rotation', argv)
    t.teardown(() => cluster.stopDaemon('contour-serve-rotation', proc))
    const envoyFiles = async () => ({
      ca: await readFile(join(envoyDir, 'ca', 'ca.crt'), 'utf8'),
      cert: await readFile(join(envoyDir, 'envoy', 'tls.crt'), 'utf8'),
      key: await readFile(join(envoyDir, 'envoy', 'tls.key'), 'utf8'),
    })
    await waitFor(`contour serve's xDS port ${ports.xds}`, async () => ((await probe(ports.xds, await envoyFiles())).accepted ? true : undefined), { timeoutMs: 60_000, log, hint: `see ${proc.log}` })

    // The xDS client: a new connection every 300 ms with the files as they are now; an ADS exchange every tenth.
    let stop = false
    const results = { handshakes: 0, failures: [] as string[], ads: 0 }
    const client = (async () => {
      for (let i = 0; !stop; i++) {
        const files = await envoyFiles().catch(() => undefined)
        if (files !== undefined) {
          const r = await probe(ports.xds, files)
          results.handshakes++
          if (!r.accepted || !r.authorized || r.protocol !== 'TLSv1.3') results.failures.push(`${new Date().toISOString()}: ${r.error ?? `accepted=${r.accepted} authorized=${r.authorized} ${r.protocol}`}`)
          if (i % 10 === 0) {
            const res = await fetchResources(ports.xds, files, 'type.googleapis.com/envoy.config.cluster.v3.Cluster', 5000).catch((err: Error) => err)
            if (res instanceof Error) results.failures.push(`${new Date().toISOString()}: ADS: ${res.message}`)
            else results.ads++
          }
        }
        await new Promise((resolve) => setTimeout(resolve, 300))
      }
    })()

    // bootstrap-tls as the sidecar runs it, once a second, with a 3 s propagation delay (above the 1.5 s lag).
    const steps: string[] = []
    const sidecar = async (): Promise<void> => {
      const io = recordingIO({})
      const code = await runBootstrapTls(['--role=contour', '--secrets-only', `--kubeconfig=${ns.contourKubeconfig}`, `--namespace=${ns.namespace}`, '--propagation-delay=3s', '--wait-timeout=20s'], io, {})
      if (code !== 0) throw new Error(`bootstrap-tls exited ${code}: ${io.err()}`)
      for (const m of io.err().matchAll(/^bootstrap-tls: (trusting a next CA|switching both leaves|dropping expired CAs|writing a new set)[^:]*: ([^(\n]*)/gm)) steps.push(`${m[1]}: ${m[2]?.trim()}`)
    }
    const started = Date.now()
    let rotated = false
    while (Date.now() - started < 75_000) {
      await sidecar()
      if (!rotated && Date.now() - started > 15_000) {
        const ca = await admin.get(DEFAULT_NAMES.ca)
        await admin.put({ ...ca, metadata: { ...ca?.metadata, annotations: { ...ca?.metadata?.annotations, [RequestAnnotations.rotate]: 'e2e-1' } } })
        rotated = true
      }
      await new Promise((resolve) => setTimeout(resolve, 1000))
    }
    stop = true
    await client
    const final = await readSet(admin)
    t.comment(`figure: ${results.handshakes} handshakes and ${results.ads} ADS exchanges with the real contour serve during ${steps.length} steps: ${steps.join('; ')}`)
    t.same(results.failures, [], 'no failed handshake or ADS exchange')
    t.ok(results.handshakes > 150, `the client kept reconnecting (${results.handshakes})`)
    t.ok(steps.some((s) => /trusting.*due for renewal/.test(s)), 'a renewal by time started')
    t.ok(steps.some((s) => /trusting.*rotation requested/.test(s)), 'the requested rotation started')
    t.ok(steps.filter((s) => s.startsWith('switching')).length >= 2, 'both rounds switched the leaves')
    t.ok(steps.some((s) => s.startsWith('dropping expired CAs')), 'the expired CA was dropped')
    t.notOk(splitCertificates(final.caCert).some((pem) => pem === splitCertificates(aging.caCert)[0]), 'the aging CA is no longer trusted')
    t.equal(final.secrets.ca?.metadata?.annotations?.[SecretAnnotations.rotateToken], 'e2e-1')
    const events = await cluster.api.call<{ items: Array<{ reason?: string; involvedObject?: { name?: string }; source?: { component?: string } }> }>('GET', `/api/v1/namespaces/${ns.namespace}/events`)
    const reasons = events.items.filter((e) => e.involvedObject?.name === DEFAULT_NAMES.ca && e.source?.component === 'contour-tls-injector').map((e) => e.reason)
    t.comment(`events on ${DEFAULT_NAMES.ca}: ${reasons.join(', ')}`)
    for (const reason of ['TrustAdded', 'LeavesSwitched', 'TrustDropped']) t.ok(reasons.includes(reason), `an Event ${reason} on the CA Secret (Contour's service account may create events)`)
  })
}
