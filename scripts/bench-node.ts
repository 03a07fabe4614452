// Figures, not timed tests, on the real node (`cluster:up -- --nodes`, started for the run in its
// own state directory and stopped after; root): from `kubectl apply` of the upstream v1.33.6
// contour.yaml (images retagged to the local contour and Envoy stand-in images, nothing else
// changed) to every Contour and Envoy pod Ready, the Envoy pod Ready meaning its stand-in
// completed an xDS exchange with Contour over mutual TLS 1.3:
//   product:  `projectcontour` labelled (and the chart's Role for Contour granted) before the
//             apply, certgen's Job deleted from the manifest; the cluster's webhook injects
//   upstream: the manifest as it is (certgen's Job writes the Secrets), no label, no injector
// alternating, on a fresh namespace each run (deleted and gone before the next; the CRDs and
// cluster-scoped objects stay, the same for both), after a warm-up round of each. Also how long
// the kubelet took to put each Secret's files into each pod's volume once the Secret (and the
// pod) appeared in the API (both read every 100 ms: the API, and the kubelet's volume
// directories on the node): the product's optional volumes start empty and are filled on a
// later pod sync; upstream's pods wait in ContainerCreating until certgen's Secrets exist.
// Usage: node scripts/bench-node.ts [--runs=3] [--warmup=1]
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import type { V1Pod, V1Secret } from '@kubernetes/client-node'
import { parse } from 'yaml'
import { nodePaths } from './cluster/node/config-files.ts'
import { waitFor } from './cluster/wait.ts'
import { NAMESPACE_LABEL } from '../src/core/injection/types.ts'
import { startTestCluster, type TestCluster } from '../test/helpers/cluster.ts'
import { grantSecretsRole } from '../test/e2e/secrets.ts'
import { writeRetaggedManifest } from '../test/node/contour-quickstart.ts'
import { failedAttempts, parseExchanges } from '../test/node/envoy-standin.ts'
import { localImage } from '../test/node/workloads.ts'

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' }, warmup: { type: 'string', default: '1' } } })
const RUNS = Math.max(3, Number(values.runs))
const WARMUP = Math.max(0, Number(values.warmup))
const NS = 'projectcontour'
const started = Date.now()
const log = (line: string) => process.stderr.write(`[bench node +${Math.round((Date.now() - started) / 1000)}s] ${line}\n`)

const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  if (s.length === 0) return NaN
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2
}
const sec = (ms: number) => `${(ms / 1000).toFixed(1)} s`
const isReady = (pod: V1Pod) => pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true

type Variant = 'product' | 'upstream'
interface RunResult {
  readonly variant: Variant
  readonly readyMs: number
  readonly contourReadyMs: number
  /** Per pod volume: from its Secret's first sighting in the API to its files on the node. */
  readonly fillMs: readonly number[]
  readonly exchangesOk: number
  readonly exchangesFailed: number
}

/** The manifest without certgen's Job (the product variant). */
async function withoutCertgen(file: string): Promise<string> {
  const docs = (await readFile(file, 'utf8')).split(/^---\n/m)
  const kept = docs.filter((d) => (parse(d) as { kind?: string } | null)?.kind !== 'Job')
  if (kept.length !== docs.length - 1) throw new Error('contour.yaml: expected exactly one Job (certgen)')
  const out = file.replace(/\.yaml$/, '-no-certgen.yaml')
  await writeFile(out, kept.join('---\n'))
  return out
}

async function volumeFilled(kubeletRoot: string, uid: string, volume: string): Promise<boolean> {
  const entries = await readdir(join(kubeletRoot, 'pods', uid, 'volumes', 'kubernetes.io~secret', volume)).catch(() => [] as string[])
  return entries.some((e) => !e.startsWith('..'))
}

async function oneRun(c: TestCluster, variant: Variant, file: string, kubeletRoot: string): Promise<RunResult> {
  if (variant === 'product') {
    await c.api.call('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS, labels: { [NAMESPACE_LABEL.key]: NAMESPACE_LABEL.value } } })
    await grantSecretsRole(c, NS, { name: 'contour', namespace: NS })
  }
  const t0 = Date.now()
  const applying = c.kubectl(['apply', '-f', file], { timeoutMs: 120_000 })
  const secretSeen = new Map<string, number>()
  const fileSeen = new Map<string, { at: number; secret: string; podSeen: number }>()
  const podSeen = new Map<string, number>()
  let contourReadyMs = NaN
  let envoy: V1Pod | undefined
  await waitFor(`${variant}: every Contour and Envoy pod Ready`, async () => {
    const now = Date.now()
    const secrets = await c.api.raw<{ items?: V1Secret[] }>('GET', `/api/v1/namespaces/${NS}/secrets`)
    for (const s of secrets.body.items ?? []) if (!secretSeen.has(s.metadata?.name ?? '')) secretSeen.set(s.metadata?.name ?? '', now)
    const pods = (await c.api.raw<{ items?: V1Pod[] }>('GET', `/api/v1/namespaces/${NS}/pods`)).body.items ?? []
    for (const p of pods) {
      if (!podSeen.has(p.metadata?.uid ?? '')) podSeen.set(p.metadata?.uid ?? '', now)
      for (const v of p.spec?.volumes ?? []) {
        const key = `${p.metadata?.uid ?? ''}/${v.name}`
        if (v.secret?.secretName === undefined || fileSeen.has(key)) continue
        if (await volumeFilled(kubeletRoot, p.metadata?.uid ?? '', v.name)) fileSeen.set(key, { at: Date.now(), secret: v.secret.secretName, podSeen: podSeen.get(p.metadata?.uid ?? '') ?? now })
      }
    }
    const contour = pods.filter((p) => p.metadata?.labels?.app === 'contour')
    const envoys = pods.filter((p) => p.metadata?.labels?.app === 'envoy')
    if (Number.isNaN(contourReadyMs) && contour.length === 2 && contour.every(isReady)) contourReadyMs = now - t0
    if (contour.length === 2 && contour.every(isReady) && envoys.length === 1 && envoys.every(isReady)) {
      envoy = envoys[0]
      return true
    }
    throw new Error(`${pods.map((p) => `${p.metadata?.name ?? ''} ${isReady(p) ? 'Ready' : (p.status?.phase ?? '')}`).join(', ')}`)
  }, { timeoutMs: 300_000, intervalMs: 100, progressMs: 10_000, log })
  const readyMs = Date.now() - t0
  const applied = await applying
  if (applied.code !== 0) throw new Error(`kubectl apply: ${applied.stderr}`)
  const standin = (await c.kubectl(['-n', NS, 'logs', envoy?.metadata?.name ?? '', '-c', 'envoy'])).stdout
  const exchanges = parseExchanges(standin)
  if (!exchanges.some((e) => e.tls === 'TLS 1.3' && e.clientCert === 'CN=envoy')) throw new Error(`${variant}: no xDS exchange over TLS 1.3 with a client certificate in the stand-in's log`)
  const fillMs: number[] = []
  // From the moment both the Secret and the pod existed (upstream's pods may come after certgen).
  for (const { at, secret, podSeen: podAt } of fileSeen.values()) {
    const seen = secretSeen.get(secret)
    if (seen !== undefined) fillMs.push(Math.max(0, at - Math.max(seen, podAt)))
  }
  return { variant, readyMs, contourReadyMs, fillMs, exchangesOk: exchanges.length, exchangesFailed: failedAttempts(standin).length }
}

async function removeNamespace(c: TestCluster): Promise<void> {
  await c.kubectl(['delete', 'namespace', NS, '--wait=false'])
  await c.kubectl(['-n', NS, 'delete', 'pods', '--all', '--grace-period=0', '--force', '--wait=false'])
  await waitFor(`namespace ${NS} gone`, async () => ((await c.api.raw('GET', `/api/v1/namespaces/${NS}`)).status === 404 ? true : undefined), { timeoutMs: 180_000, log })
}

const c = await startTestCluster(log, { kind: 'bench', nodes: true })
try {
  const net = c.info.net
  if (net === undefined) throw new Error('the cluster has no node')
  const p = nodePaths(c.info.paths.dir, net)
  const syncFrequency = /syncFrequency: (\S+)/.exec(await readFile(p.kubeletConfig, 'utf8'))?.[1] ?? '(unset: 1m)'
  const images = { contour: await localImage('localhost/cti-contour'), envoy: await localImage('localhost/cti-envoy-standin') }
  const upstream = await writeRetaggedManifest(await c.tmpDir('bench-node'), images)
  const product = await withoutCertgen(upstream)
  const results: RunResult[] = []
  // Warm-up rounds (not counted): the node's first pods, images' first use.
  for (let i = -WARMUP; i < RUNS; i++) {
    for (const variant of (i % 2 === 0 ? ['product', 'upstream'] : ['upstream', 'product']) as Variant[]) {
      log(`${i < 0 ? 'warm-up' : `run ${i + 1}/${RUNS}`}: ${variant}`)
      const r = await oneRun(c, variant, variant === 'product' ? product : upstream, p.kubeletRoot)
      log(`  ${variant}: all Ready after ${sec(r.readyMs)} (Contour ${sec(r.contourReadyMs)}); volumes filled ${r.fillMs.map((m) => sec(m)).join(', ')} after their Secret and pod both existed`)
      if (i >= 0) results.push(r)
      await removeNamespace(c)
    }
  }
  const of = (v: Variant) => results.filter((r) => r.variant === v)
  const row = (v: Variant) => {
    const rs = of(v)
    return `| ${v === 'product' ? 'this product (labelled, no certgen Job)' : 'upstream as it is (certgen Job)'} | ${sec(median(rs.map((r) => r.readyMs)))} | ${rs.map((r) => sec(r.readyMs)).join(', ')} | ${sec(median(rs.map((r) => r.contourReadyMs)))} | ${sec(median(rs.flatMap((r) => r.fillMs)))} (${sec(Math.min(...rs.flatMap((r) => r.fillMs)))}-${sec(Math.max(...rs.flatMap((r) => r.fillMs)))}) |`
  }
  console.log(`\nReal node: kubectl apply of the upstream v1.33.6 contour.yaml to every Contour and Envoy pod Ready (Envoy = the stand-in, Ready after an xDS exchange over mutual TLS 1.3), ${RUNS} runs each after ${WARMUP} warm-up round(s), alternating, fresh namespace each run`)
  console.log(`kubelet syncFrequency on this node: ${syncFrequency} (the kubelet's default is 1m; volumes of a pod are refreshed on its sync, so that sets the fill times)`)
  console.log('\n| variant | median to all Ready | runs | median to both Contour Ready | kubelet: Secret (and pod) in the API to its files in the pod, median (range) |')
  console.log('|---|---|---|---|---|')
  console.log(row('product'))
  console.log(row('upstream'))
  const ratio = median(of('product').map((r) => r.readyMs)) / median(of('upstream').map((r) => r.readyMs))
  console.log(`\nratio product / upstream (median to all Ready): ${ratio.toFixed(2)}`)
  console.log(`stand-in exchanges at Ready: ${results.map((r) => `${r.variant} ${r.exchangesOk} ok/${r.exchangesFailed} failed`).join('; ')}`)
} finally {
  const left = await c.stop()
  if (left.length > 0) {
    log(`still running after stop: ${left.join(', ')}`)
    process.exitCode = 1
  }
}
