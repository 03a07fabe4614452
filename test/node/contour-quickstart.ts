// The upstream v1.33.6 `contour.yaml` as it ships, on the real node: only its images are retagged
// to local ones (Contour to the Go-built `localhost/cti-contour`; Envoy, which cannot be had here,
// to `localhost/cti-envoy-standin`, a stand-in that is not Envoy: see envoy-standin.ts). Applied
// into the labelled `projectcontour`, with the webhook as the cluster runs it: the Contour pods are
// taken over, bootstrap-tls creates the set with the kubelet-projected token, the kubelet fills the
// optional volumes, the real `contour serve` becomes Ready; the Envoy pod's real `contour bootstrap`
// init container exits 0 with the injected flags, and the stand-in reads what it wrote, completes
// xDS exchanges with Contour over mutual TLS 1.3 and makes the Envoy pod Ready.
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { V1Pod } from '@kubernetes/client-node'
import type { Test } from 'tap'
import { waitFor, type Log } from '../../scripts/cluster/wait.ts'
import { Annotations, INIT_CONTAINER_NAME, NAMESPACE_LABEL } from '../../src/core/injection/types.ts'
import { bootstrapTlsStarted } from './workloads.ts'
import { contourFixturesDir } from '../core/injection/support/load-upstream-pods.ts'
import type { TestCluster } from '../helpers/cluster.ts'
import { grantSecretsRole } from '../e2e/secrets.ts'
import { checkStandin, testStandinReload } from './envoy-standin.ts'

const NAMESPACE = 'projectcontour'
const UPSTREAM_IMAGES = { contour: 'ghcr.io/projectcontour/contour:v1.33.6', envoy: 'docker.io/envoyproxy/envoy:distroless-v1.38.3' } as const

/** contour.yaml with its two image references replaced, every other byte as shipped. */
export async function writeRetaggedManifest(dir: string, images: { contour: string; envoy: string }): Promise<string> {
  const text = await readFile(join(contourFixturesDir, 'v1.33.6', 'contour.yaml'), 'utf8')
  for (const image of Object.values(UPSTREAM_IMAGES)) if (!text.includes(`image: ${image}\n`)) throw new Error(`contour.yaml no longer ships ${image}`)
  const file = join(dir, 'contour.yaml')
  await writeFile(file, text.replaceAll(UPSTREAM_IMAGES.contour, images.contour).replaceAll(UPSTREAM_IMAGES.envoy, images.envoy))
  return file
}

const isReady = (pod: V1Pod) => pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true
const statusOf = (pod: V1Pod, name: string) => [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])].find((s) => s.name === name)
const describe = (pods: readonly V1Pod[]) => pods.map((p) => `${p.metadata?.name ?? ''}: ${p.status?.phase ?? ''} ${[...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])].map((s) => `${s.name}=${s.state?.waiting?.reason ?? (s.state?.terminated ? `exit ${s.state.terminated.exitCode}` : s.ready ? 'ready' : 'running')}`).join(' ')}`).join('; ')

async function listPods(c: TestCluster, app: string): Promise<V1Pod[]> {
  return (await c.api.call<{ items: V1Pod[] }>('GET', `/api/v1/namespaces/${NAMESPACE}/pods?labelSelector=app%3D${app}`)).items
}

/** Seconds from bootstrap-tls's "ready after" line: how long it waited for the kubelet to fill the mounts. */
function mountWait(logText: string): string | undefined {
  return /ready after ([0-9.]+ ?m?s)/.exec(logText)?.[1]
}

/** `projectcontour`, labelled before anything is applied, as a user does (the chart's Role needs it to exist). */
export async function createQuickstartNamespace(c: TestCluster): Promise<string> {
  await c.api.call('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE, labels: { [NAMESPACE_LABEL.key]: NAMESPACE_LABEL.value } } })
  return NAMESPACE
}

/**
 * `rbac: 'chart'`: the namespace exists and the installed chart's Role covers Contour's service
 * account; `'test'`: the namespace is made here and the chart's Role granted by the test.
 */
export async function testContourQuickstart(t: Test, c: TestCluster, images: { contour: string; envoy: string }, log: Log, opts: { rbac: 'chart' | 'test' }): Promise<void> {
  const file = await writeRetaggedManifest(await c.tmpDir('quickstart'), images)
  if (opts.rbac === 'test') await createQuickstartNamespace(c)
  try {
    if (opts.rbac === 'test') await grantSecretsRole(c, NAMESPACE, { name: 'contour', namespace: NAMESPACE })
    const appliedAt = Date.now()
    const applied = await c.kubectl(['apply', '-f', file], { timeoutMs: 120_000 })
    t.equal(applied.code, 0, 'kubectl apply -f contour.yaml (images retagged, nothing else changed)', { stderr: applied.stderr })

    const contour = await waitFor('2 Contour pods Ready', async () => {
      const pods = await listPods(c, 'contour')
      if (pods.length === 2 && pods.every(isReady)) return pods
      throw new Error(describe(pods) || 'no pods yet')
    }, { timeoutMs: 240_000, intervalMs: 250, log }).catch((err: Error) => err)
    if (contour instanceof Error) return void t.fail(contour.message)
    const readyMs = Date.now() - appliedAt
    t.comment(`figure: kubectl apply to every Contour pod Ready: ${(readyMs / 1000).toFixed(1)} s`)

    for (const pod of contour) {
      const name = pod.metadata?.name ?? ''
      t.match(pod.metadata?.annotations?.[Annotations.status], /^injected; role=contour; replaced=contourcert;/, `${name}: taken over`)
      const serve = pod.spec?.containers.find((x) => x.name === 'contour')
      t.ok(serve?.args?.includes('--contour-cafile=/etc/tls/ca/ca.crt'), `${name}: serve reads the CA from our mount`)
      const started = bootstrapTlsStarted(pod)
      t.ok(started.ok, `${name}: bootstrap-tls is done starting, as ${started.how}`)
      t.ok(statusOf(pod, 'contour')?.ready, `${name}: the real contour serve is Ready (tcp 8001)`)
      const initLog = (await c.kubectl(['-n', NAMESPACE, 'logs', name, '-c', INIT_CONTAINER_NAME])).stdout
      t.notMatch(initLog, /PRIVATE KEY/, `${name}: no key material in bootstrap-tls's log`)
      const created = /created a new set/.test(initLog)
      t.comment(`figure: ${name}: ${created ? 'created the set' : 'found the set'}; waited ${mountWait(initLog) ?? '(no "ready after" line)'} for the kubelet to fill the mounts`)
    }
    for (const secret of ['contour-tls', 'envoy-tls', 'contour-ca']) {
      t.equal((await c.api.raw('GET', `/api/v1/namespaces/${NAMESPACE}/secrets/${secret}`)).status, 200, `Secret ${secret} created`)
    }

    await t.test('Envoy pod: bootstrap-tls and the real contour bootstrap exit 0, the stand-in completes xDS over mutual TLS 1.3 and the pod is Ready', async (t) => {
      const envoy = await waitFor('the Envoy pod Ready', async () => {
        const pods = await listPods(c, 'envoy')
        const pod = pods[0]
        if (pod !== undefined && isReady(pod)) return pod
        throw new Error(describe(pods) || 'no pod yet')
      }, { timeoutMs: 120_000, intervalMs: 250, log }).catch((err: Error) => err)
      if (envoy instanceof Error) return void t.fail(envoy.message)
      t.comment(`figure: kubectl apply to the Envoy pod Ready: ${((Date.now() - appliedAt) / 1000).toFixed(1)} s`)
      t.match(envoy.metadata?.annotations?.[Annotations.status], /^injected; role=envoy; replaced=envoycert;/, 'taken over')
      t.equal(statusOf(envoy, INIT_CONTAINER_NAME)?.state?.terminated?.exitCode, 0, 'bootstrap-tls --role=envoy exited 0')
      const init = envoy.spec?.initContainers?.find((x) => x.name === 'envoy-initconfig')
      t.ok(init?.args?.includes('--envoy-cafile=/etc/tls/ca/ca.crt'), `envoy-initconfig runs with the injected flags: ${(init?.args ?? []).join(' ')}`)
      t.equal(statusOf(envoy, 'envoy-initconfig')?.state?.terminated?.exitCode, 0, 'the real contour bootstrap (envoy-initconfig) exited 0')
      t.equal(envoy.spec?.containers.find((x) => x.name === 'envoy')?.image, images.envoy, `the envoy container runs the stand-in image ${images.envoy}`)
      t.ok(statusOf(envoy, 'envoy')?.ready, 'the stand-in is Ready: its /ready on 8002 (the manifest\'s probe) answers only after an xDS exchange')
      const envoyLog = (await c.kubectl(['-n', NAMESPACE, 'logs', envoy.metadata?.name ?? '', '-c', INIT_CONTAINER_NAME])).stdout
      t.comment(`figure: Envoy's bootstrap-tls (started before the Secrets existed) waited ${mountWait(envoyLog) ?? '(no "ready after" line)'} for the kubelet to fill its mounts`)
      await checkStandin(t, c, NAMESPACE, envoy, log)
      await t.test('the stand-in follows the files when the Secrets change (a second CA in the bundle, then a client certificate it signs)', (t) => testStandinReload(t, c, NAMESPACE, envoy, contour, log))
    })

    const job = await c.api.call<{ status?: { succeeded?: number; failed?: number } }>('GET', `/apis/batch/v1/namespaces/${NAMESPACE}/jobs/contour-certgen-v1-33-6`)
    const certgen = await Promise.all(['contourcert', 'envoycert'].map(async (s) => `${s} ${(await c.api.raw('GET', `/api/v1/namespaces/${NAMESPACE}/secrets/${s}`)).status === 200 ? 'exists' : 'absent'}`))
    t.comment(`certgen's Job (not needed by the take-over): succeeded=${job.status?.succeeded ?? 0} failed=${job.status?.failed ?? 0}; ${certgen.join(', ')}`)
  } finally {
    await removeQuickstart(t, c, file, log)
  }
}

/** Deletes what the manifest and the test made; the Envoy pod's 300 s grace period is not waited for. */
async function removeQuickstart(t: Test, c: TestCluster, file: string, log: Log): Promise<void> {
  await c.kubectl(['delete', '-f', file, '--ignore-not-found', '--wait=false'], { timeoutMs: 120_000 })
  await c.kubectl(['-n', NAMESPACE, 'delete', 'pods', '--all', '--grace-period=0', '--force', '--wait=false'], { timeoutMs: 60_000 })
  await c.kubectl(['delete', 'namespace', NAMESPACE, '--ignore-not-found', '--wait=false'])
  const gone = await waitFor(`namespace ${NAMESPACE} gone`, async () => ((await c.api.raw('GET', `/api/v1/namespaces/${NAMESPACE}`)).status === 404 ? true : undefined), { timeoutMs: 90_000, log }).catch((err: Error) => err)
  t.equal(gone, true, `namespace ${NAMESPACE} and everything in it deleted`)
  const crds = await waitFor('Contour\'s CRDs gone', async () => {
    const list = await c.api.call<{ items: Array<{ metadata?: { name?: string } }> }>('GET', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions')
    return list.items.some((d) => d.metadata?.name?.endsWith('projectcontour.io') === true) ? undefined : true
  }, { timeoutMs: 60_000, log }).catch((err: Error) => err)
  t.equal(crds, true, 'Contour\'s CRDs deleted')
}
