// `npm run bench` part 1: /mutate under load versus the fastify floor, both over TLS keep-alive with
// 32 connections, one after the other in the same run (the load generator shares the 2 cores).
import autocannon from 'autocannon'
import { build } from 'esbuild'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { once } from 'node:events'
import { expectOk, httpsStatus } from '../cluster/health.ts'
import { waitFor } from '../cluster/wait.ts'
import { WEBHOOK_NODE_FLAGS } from './node-flags.ts'

const NODE = process.execPath
// The webhook runs with the chart's webhook.nodeFlags (the Deployment's command), the floor too,
// so both run on the same V8 settings: the benchmark measures what ships.
const WEBHOOK_FLAGS = [...WEBHOOK_NODE_FLAGS]
const review = await readFile(new URL('../../test/fixtures/reviews/envoy-daemonset-pod.json', import.meta.url), 'utf8')

interface Figures { name: string; tool: string; rps: number; p50: number; p99: number; rssMb: number; errors: number; non2xx: number }

async function waitForLine(child: ChildProcess, pattern: RegExp): Promise<void> {
  let seen = ''
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => { seen += chunk.toString(); if (pattern.test(seen)) resolve() }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    child.once('exit', (code) => reject(new Error(`server exited (${code}) before ready: ${seen}`)))
  })
}

function peakRssMb(pid: number): Promise<number> {
  return readFile(`/proc/${pid}/status`, 'utf8').then((s) => Number(/VmHWM:\s+(\d+)/.exec(s)?.[1] ?? 0) / 1024)
}

async function load(name: string, child: ChildProcess, port: number, seconds: number): Promise<Figures> {
  const figures = hasWrk() ? await loadWithWrk(port, seconds) : await loadWithAutocannon(port, seconds)
  return { name, ...figures, rssMb: await peakRssMb(child.pid ?? 0) }
}

// wrk (C, one thread) is preferred when installed: autocannon shares the 2 cores with the server
// and its own cost grows with the response size, which understates the webhook against the floor.
function hasWrk(): boolean {
  return spawnSync('wrk', ['--version']).error === undefined
}

async function loadWithWrk(port: number, seconds: number): Promise<Omit<Figures, 'name' | 'rssMb'>> {
  const dir = await mkdtemp(join(tmpdir(), 'cti-wrk-'))
  const script = join(dir, 'post.lua')
  const bodyFile = join(dir, 'review.json')
  await writeFile(bodyFile, review)
  await writeFile(script, `wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nlocal f = io.open("${bodyFile}", "r")\nwrk.body = f:read("*all")\nf:close()\n`)
  const url = `https://127.0.0.1:${port}/mutate`
  spawnSync('wrk', ['-t1', '-c32', '-d2s', '-s', script, url]) // warm-up
  const out = spawnSync('wrk', ['-t1', '-c32', `-d${seconds}s`, '--latency', '-s', script, url], { encoding: 'utf8' }).stdout
  const ms = (label: string): number => {
    const m = new RegExp(`^\\s*${label}%\\s+([\\d.]+)(us|ms|s)`, 'm').exec(out)
    if (m === null) throw new Error(`wrk output without ${label}%: ${out}`)
    const v = Number(m[1])
    return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v
  }
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)
  return {
    tool: 'wrk',
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0),
    p50: ms('50'),
    p99: ms('99'),
    errors: errors === null ? 0 : errors.slice(1).reduce((a, b) => a + Number(b), 0),
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
  }
}

async function loadWithAutocannon(port: number, seconds: number): Promise<Omit<Figures, 'name' | 'rssMb'>> {
  const opts = { url: `https://127.0.0.1:${port}/mutate`, method: 'POST' as const, body: review, headers: { 'content-type': 'application/json' }, connections: 32 }
  await autocannon({ ...opts, duration: 2 }) // warm-up: JIT, TLS sessions, buffers
  const r = await autocannon({ ...opts, duration: seconds })
  return { tool: 'autocannon', rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.timeouts, non2xx: r.non2xx }
}

export async function benchWebhook(seconds = 10): Promise<void> {
  // The webhook runs as it does in a pod: certificate files (here from the product's own
  // `bootstrap-tls --out-dir`), not --dev, which would also build a certificate at start.
  const dir = join(await mkdtemp(join(tmpdir(), 'cti-bench-')), 'tls')
  const issued = spawnSync(NODE, ['dist/cli.js', 'bootstrap-tls', `--out-dir=${dir}`], { encoding: 'utf8' })
  if (issued.status !== 0) throw new Error(`bootstrap-tls --out-dir failed: ${issued.stderr}`)
  const certFile = join(dir, 'contour', 'tls.crt')
  const keyFile = join(dir, 'contour', 'tls.key')
  const webhook = spawn(NODE, [...WEBHOOK_FLAGS, 'dist/cli.js', 'webhook', '--host=127.0.0.1', '--port=18443', `--tls-cert-file=${certFile}`, `--tls-key-file=${keyFile}`, '--log-level=warn', '--drain-seconds=0'], { stdio: ['ignore', 'pipe', 'pipe'] })
  // The bench's own certificate is not verified: the load generators do not verify it either.
  await waitFor('the webhook on port 18443', () => expectOk('https://127.0.0.1:18443/readyz', { insecure: true }), { timeoutMs: 15_000, intervalMs: 50, log: (line) => console.error(line) })
  // The webhook's answer to this review, for the control run below.
  const answerFile = join(dir, 'answer.json')
  const answer = (await httpsStatus('https://127.0.0.1:18443/mutate', { insecure: true }, 3000, review)).body
  if (!answer.includes('"patchType":"JSONPatch"')) throw new Error(`the bench review was not injected: ${answer}`)
  await writeFile(answerFile, answer)
  const ours = await load('webhook /mutate', webhook, 18443, seconds)
  webhook.kill('SIGTERM')
  await once(webhook, 'exit')

  // The floor is bundled by esbuild like the product, so both load their code the same way (a
  // .ts file run directly would also pay for Node's type stripping, in time and in memory).
  const floorBundle = join(dir, 'floor-server.mjs')
  await build({
    entryPoints: ['scripts/bench/floor-server.ts'],
    outfile: floorBundle,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node24',
    minifySyntax: true,
    banner: { js: "import { createRequire as __ctiCreateRequire } from 'node:module'; const require = __ctiCreateRequire(import.meta.url);" },
    logLevel: 'warning',
  })
  const runFloor = async (name: string, port: number, extra: string[]): Promise<Figures> => {
    const floor = spawn(NODE, [...WEBHOOK_FLAGS, floorBundle, certFile, keyFile, String(port), ...extra], { stdio: ['ignore', 'pipe', 'pipe'] })
    await waitForLine(floor, /ready/)
    const figures = await load(name, floor, port, seconds)
    floor.kill('SIGTERM')
    await once(floor, 'exit')
    return figures
  }
  const base = await runFloor('fastify floor', 18444, [])
  // Control: the floor again, answering with the webhook's own response bytes (uid echoed). What
  // it loses against the floor is what any webhook pays to send this patch, before any work.
  const sameAnswer = await runFloor('floor + same response', 18445, [answerFile])

  console.log(`\n## Webhook throughput (${ours.tool}, ${seconds} s per server, 32 connections, TLS keep-alive, review ${review.length} bytes, node ${WEBHOOK_FLAGS.join(' ')})`)
  console.log('| server | admissions/s | p50 ms | p99 ms | peak RSS MB | errors | non-2xx |')
  console.log('|---|---|---|---|---|---|---|')
  for (const f of [ours, base, sameAnswer]) console.log(`| ${f.name} | ${f.rps.toFixed(0)} | ${f.p50} | ${f.p99} | ${f.rssMb.toFixed(1)} | ${f.errors} | ${f.non2xx} |`)
  console.log(`throughput ratio webhook/floor: ${(ours.rps / base.rps).toFixed(3)} (target >= 0.8); p99 ${ours.p99} ms (target <= 5); peak RSS ${ours.rssMb.toFixed(1)} MB (target <= 100)`)
  console.log(`response: ${answer.length} bytes; floor + same response / floor: ${(sameAnswer.rps / base.rps).toFixed(3)} (the most a webhook sending this patch can reach); webhook / floor + same response: ${(ours.rps / sameAnswer.rps).toFixed(3)}`)
}
