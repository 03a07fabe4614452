// `npm run bench` part 1: /mutate under load versus the fastify floor, both over TLS keep-alive with
// 32 connections, one after the other in the same run (the load generator shares the 2 cores).
import autocannon from 'autocannon'
import { spawn, type ChildProcess } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { once } from 'node:events'

const NODE = process.execPath
const review = await readFile(new URL('../../test/fixtures/reviews/envoy-daemonset-pod.json', import.meta.url), 'utf8')

interface Figures { name: string; rps: number; p50: number; p99: number; rssMb: number; errors: number; non2xx: number }

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
  // Warm-up: JIT, TLS session setup and buffers, not counted.
  await autocannon({ url: `https://127.0.0.1:${port}/mutate`, method: 'POST', body: review, headers: { 'content-type': 'application/json' }, connections: 32, duration: 2 })
  const r = await autocannon({ url: `https://127.0.0.1:${port}/mutate`, method: 'POST', body: review, headers: { 'content-type': 'application/json' }, connections: 32, duration: seconds })
  return { name, rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, rssMb: await peakRssMb(child.pid ?? 0), errors: r.errors + r.timeouts, non2xx: r.non2xx }
}

export async function benchWebhook(seconds = 10): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'cti-bench-'))
  const webhook = spawn(NODE, ['dist/cli.js', 'webhook', '--dev', `--dev-cert-dir=${dir}`, '--port=18443', '--log-level=warn', '--drain-seconds=0'], { stdio: ['ignore', 'pipe', 'pipe'] })
  await waitForLine(webhook, /Development mode/)
  await new Promise((r) => setTimeout(r, 300))
  const ours = await load('webhook /mutate', webhook, 18443, seconds)
  webhook.kill('SIGTERM')
  await once(webhook, 'exit')

  const floor = spawn(NODE, ['scripts/bench/floor-server.ts', join(dir, 'tls.crt'), join(dir, 'tls.key'), '18444'], { stdio: ['ignore', 'pipe', 'pipe'] })
  await waitForLine(floor, /ready/)
  const base = await load('fastify floor', floor, 18444, seconds)
  floor.kill('SIGTERM')
  await once(floor, 'exit')

  console.log(`\n## Webhook throughput (${seconds} s per server, 32 connections, TLS keep-alive, review ${review.length} bytes)`)
  console.log('| server | admissions/s | p50 ms | p99 ms | peak RSS MB | errors | non-2xx |')
  console.log('|---|---|---|---|---|---|---|')
  for (const f of [ours, base]) console.log(`| ${f.name} | ${f.rps.toFixed(0)} | ${f.p50} | ${f.p99} | ${f.rssMb.toFixed(1)} | ${f.errors} | ${f.non2xx} |`)
  console.log(`throughput ratio webhook/floor: ${(ours.rps / base.rps).toFixed(3)} (target >= 0.8); p99 ${ours.p99} ms (target <= 5); peak RSS ${ours.rssMb.toFixed(1)} MB (target <= 100)`)
}
