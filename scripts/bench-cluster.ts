// Figures, not timed tests, against a real control plane started for the run (and stopped after):
//  1. admission overhead: the same Contour pod created N times in an enabled and in an unlabelled
//     namespace, alternating, over one keep-alive HTTPS connection; p50/p99 of each and the difference.
//  2. `bootstrap-tls --role=contour` (the built bundle, as Contour's service account) against the
//     real `contour certgen --kube --no-incluster` on empty namespaces (kingpin reads `--incluster=false` as true), median of a few runs each.
// Usage: node scripts/bench-cluster.ts [--pods=300] [--runs=5] [--no-build]
import { spawn } from 'node:child_process'
import { request as httpsRequest } from 'node:https'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { createKubeApi } from './cluster/kube-api.ts'
import { Binaries, NODE_BIN, REPO_ROOT } from './cluster/paths.ts'
import { NAMESPACE_LABEL } from '../src/core/injection/types.ts'
import { projectAtomically } from '../test/bootstrap/fake-kubelet.ts'
import { run, startTestCluster, type TestCluster } from '../test/helpers/cluster.ts'
import { createContourNamespace } from '../test/e2e/secrets.ts'

const { values } = parseArgs({ options: { pods: { type: 'string', default: '300' }, runs: { type: 'string', default: '5' }, 'no-build': { type: 'boolean', default: false } } })
const PODS = Number(values.pods)
const RUNS = Number(values.runs)
const DIST_CLI = join(REPO_ROOT, 'dist', 'cli.js')
const started = Date.now()
const log = (line: string) => process.stderr.write(`[bench +${Math.round((Date.now() - started) / 1000)}s] ${line}\n`)

const quantile = (xs: readonly number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? NaN
}
const median = (xs: readonly number[]) => quantile(xs, 0.5)
const ms = (n: number) => `${n.toFixed(1)} ms`

const CONTOUR_POD = {
  apiVersion: 'v1', kind: 'Pod', metadata: { generateName: 'contour-' },
  spec: { containers: [{ name: 'contour', image: 'ghcr.io/projectcontour/contour:v1.33.6', command: ['contour'], args: ['serve', '--incluster', '--insecure', '--xds-address=0.0.0.0', '--xds-port=8001'] }] },
}

async function admissionOverhead(cluster: TestCluster): Promise<void> {
  const enabled = await cluster.createNamespace('bench-on', { [NAMESPACE_LABEL.key]: NAMESPACE_LABEL.value })
  const plain = await cluster.createNamespace('bench-off')
  const api = createKubeApi(cluster.info.admin, { maxSockets: 1 })
  const create = async (ns: string): Promise<{ ms: number; injected: boolean }> => {
    const t0 = process.hrtime.bigint()
    const pod = await api.call<{ metadata?: { annotations?: Record<string, string> } }>('POST', `/api/v1/namespaces/${ns}/pods`, CONTOUR_POD)
    return { ms: Number(process.hrtime.bigint() - t0) / 1e6, injected: pod.metadata?.annotations?.['contour-tls-injection/status'] !== undefined }
  }
  try {
    log(`admission: 20 warm-up creations per namespace, then ${PODS} each, alternating`)
    for (let i = 0; i < 20; i++) {
      await create(enabled)
      await create(plain)
    }
    const on: number[] = []
    const off: number[] = []
    for (let i = 0; i < PODS; i++) {
      const order = i % 2 === 0 ? [enabled, plain] : [plain, enabled]
      for (const ns of order) {
        const r = await create(ns)
        if (r.injected !== (ns === enabled)) throw new Error(`pod in ${ns}: injected=${r.injected}`)
        ;(ns === enabled ? on : off).push(r.ms)
      }
      if ((i + 1) % 100 === 0) log(`  ${i + 1}/${PODS}`)
    }
    console.log(`\n## Admission overhead: pod CREATE latency, ${PODS} pods per namespace (client: one keep-alive HTTPS connection, sequential)`)
    console.log('| namespace | p50 | p99 | mean |')
    console.log('|---|---|---|---|')
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length
    console.log(`| enabled (webhook called, pod injected) | ${ms(median(on))} | ${ms(quantile(on, 0.99))} | ${ms(mean(on))} |`)
    console.log(`| unlabelled (webhook not called) | ${ms(median(off))} | ${ms(quantile(off, 0.99))} | ${ms(mean(off))} |`)
    console.log(`| difference | ${ms(median(on) - median(off))} | ${ms(quantile(on, 0.99) - quantile(off, 0.99))} | ${ms(mean(on) - mean(off))} |`)
  } finally {
    api.close()
  }
}

/**
 * The kubelet's part, played with one watch on the namespace's Secrets (no polling load on the
 * apiserver): each ADDED/MODIFIED Secret we mount is projected as the kubelet projects volumes.
 */
async function watchingKubelet(cluster: TestCluster, namespace: string, tlsDir: string, mounts: Record<string, string>): Promise<{ stop(): void }> {
  const { server, ca, cert, key } = cluster.info.admin
  const url = new URL(`${server}/api/v1/namespaces/${namespace}/secrets?watch=1`)
  let pending = ''
  let writes = Promise.resolve()
  let established: () => void = () => undefined
  const ready = new Promise<void>((resolve) => (established = resolve))
  const req = httpsRequest({ host: url.hostname, port: url.port, path: url.pathname + url.search, ca, cert, key }, (res) => {
    established()
    res.setEncoding('utf8').on('data', (chunk: string) => {
      pending += chunk
      let nl: number
      while ((nl = pending.indexOf('\n')) >= 0) {
        const event = JSON.parse(pending.slice(0, nl)) as { type: string; object: { metadata: { name: string }; data?: Record<string, string> } }
        pending = pending.slice(nl + 1)
        const mount = mounts[event.object.metadata.name]
        if (mount === undefined || event.type === 'DELETED' || event.object.data === undefined) continue
        const files = Object.fromEntries(Object.entries(event.object.data).map(([k, v]) => [k, Buffer.from(v, 'base64')]))
        writes = writes.then(() => projectAtomically(join(tlsDir, mount), files))
      }
    })
  })
  req.on('error', () => established())
  req.end()
  await ready
  return { stop: () => req.destroy() }
}

/** Spawn to exit, and spawn to the moment a stderr line matches `mark` (undefined if it never does). */
function timed(command: string, args: readonly string[], mark?: RegExp): Promise<{ code: number | null; exitMs: number; markMs?: number; stderr: string; timeline: string[] }> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint()
    const elapsed = () => Number(process.hrtime.bigint() - t0) / 1e6
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    let markMs: number | undefined
    const timeline: string[] = []
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk
      for (const line of chunk.split('\n')) if (line !== '') timeline.push(`${elapsed().toFixed(0).padStart(5)} ms  ${line.slice(0, 110)}`)
      if (mark !== undefined && markMs === undefined && mark.test(stderr)) markMs = elapsed()
    })
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, exitMs: elapsed(), markMs, stderr, timeline }))
  })
}

async function bootstrapVersusCertgen(cluster: TestCluster): Promise<void> {
  const ours = { secrets: [] as number[], exit: [] as number[], timelines: [] as string[][] }
  const certgen: number[] = []
  for (let i = 0; i < RUNS; i++) {
    const runOurs = async () => {
      const ns = await createContourNamespace(cluster, 'bench-boot')
      const tlsDir = await cluster.tmpDir('bench-tls')
      for (const m of ['contour', 'ca']) await mkdir(join(tlsDir, m))
      const kubelet = await watchingKubelet(cluster, ns.namespace, tlsDir, { 'contour-tls': 'contour', 'contour-ca': 'ca' })
      try {
        const r = await timed(NODE_BIN, [DIST_CLI, 'bootstrap-tls', '--role=contour', `--kubeconfig=${ns.contourKubeconfig}`, `--namespace=${ns.namespace}`, `--tls-dir=${tlsDir}`, '--wait-timeout=60s'], /created a new set/)
        if (r.code !== 0 || r.markMs === undefined) throw new Error(`bootstrap-tls failed (${r.code}): ${r.stderr}`)
        ours.secrets.push(r.markMs)
        ours.exit.push(r.exitMs)
        ours.timelines.push(r.timeline)
      } finally {
        kubelet.stop()
      }
    }
    const runCertgen = async () => {
      const ns = await createContourNamespace(cluster, 'bench-certgen')
      const r = await timed(Binaries.contour, ['certgen', '--kube', '--no-incluster', `--kubeconfig=${ns.contourKubeconfig}`, `--namespace=${ns.namespace}`])
      if (r.code !== 0) throw new Error(`contour certgen failed (${r.code}): ${r.stderr}`)
      const names = (await cluster.api.call<{ items: Array<{ metadata: { name: string } }> }>('GET', `/api/v1/namespaces/${ns.namespace}/secrets`)).items.map((s) => s.metadata.name)
      if (names.length < 2) throw new Error(`certgen wrote ${names.join(', ')}`)
      certgen.push(r.exitMs)
    }
    // Alternate which goes first so neither always runs on a warmer apiserver.
    for (const step of i % 2 === 0 ? [runOurs, runCertgen] : [runCertgen, runOurs]) await step()
    log(`bootstrap vs certgen: run ${i + 1}/${RUNS}`)
  }
  const v = await run(Binaries.contour, ['version'])
  const version = /v\d+\.\d+\.\d+/.exec(v.stdout + v.stderr)?.[0] ?? '?'
  console.log(`\n## bootstrap-tls --role=contour vs contour certgen --kube (${RUNS} runs each, empty namespace, same apiserver and service-account token)`)
  console.log('| command | median | min | max |')
  console.log('|---|---|---|---|')
  const row = (name: string, xs: number[]) => console.log(`| ${name} | ${ms(median(xs))} | ${ms(Math.min(...xs))} | ${ms(Math.max(...xs))} |`)
  row('ours: process start -> Secrets written (log line "created a new set")', ours.secrets)
  row('ours: process start -> exit 0 (benchmark plays the kubelet with a watch; file poll 500 ms)', ours.exit)
  row(`contour certgen (${version}): process start -> exit 0`, certgen)
  const medianRun = ours.secrets.indexOf(median(ours.secrets))
  console.log(`\ntimeline of the median run of ours (stderr lines as they arrived):\n${(ours.timelines[medianRun] ?? []).map((l) => `    ${l}`).join('\n')}`)
  console.log(`\nratio of medians, ours (Secrets written) / certgen: ${(median(ours.secrets) / median(certgen)).toFixed(2)}`)
  console.log(`ratio of medians, ours (exit, kubelet played) / certgen: ${(median(ours.exit) / median(certgen)).toFixed(2)}`)
}

if (!values['no-build']) {
  log('npm run build (the bundle is what ships)')
  const b = await run(NODE_BIN, [join(REPO_ROOT, 'scripts', 'build.mjs')], { timeoutMs: 300_000 })
  if (b.code !== 0) throw new Error(`build failed: ${b.stderr}`)
}
const cluster = await startTestCluster(log, { kind: 'bench', webhook: { cli: DIST_CLI } })
try {
  console.log(`# bench-cluster: Node ${process.versions.node}, ${(await import('node:os')).cpus().length} CPUs, webhook and bootstrap-tls from dist/`)
  await admissionOverhead(cluster)
  await bootstrapVersusCertgen(cluster)
  console.log(`\nreproduce: node_modules/.bin/node scripts/bench-cluster.ts --pods=${PODS} --runs=${RUNS}`)
} finally {
  const left = await cluster.stop()
  if (left.length > 0) log(`still running: ${left.join(', ')}`)
}
