// `npm run bench` part 2: start-up of the shipped bundle as the init container runs it.
import { spawnSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ENTRYPOINT_NODE_FLAGS } from './node-flags.ts'

const NODE = process.execPath

function timeRun(args: string[]): number {
  const started = process.hrtime.bigint()
  const r = spawnSync(NODE, [...ENTRYPOINT_NODE_FLAGS, 'dist/cli.js', ...args], { stdio: ['ignore', 'ignore', 'pipe'] })
  const ms = Number(process.hrtime.bigint() - started) / 1e6
  if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}: ${r.stderr.toString()}`)
  return ms
}

const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? (s[m] ?? 0) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2 }

export async function benchBootstrap(runs = 21): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'cti-bench-boot-'))
  const outDirs: number[] = []
  for (let i = 0; i < runs; i++) {
    const out = join(dir, `set-${i}`)
    outDirs.push(timeRun(['bootstrap-tls', `--out-dir=${out}`]))
  }
  // The --out-dir layout is the kubelet's mount layout under a tls dir: ca/, contour/, envoy/.
  const tlsDir = join(dir, 'set-0')
  const envoy: number[] = []
  for (let i = 0; i < runs; i++) envoy.push(timeRun(['bootstrap-tls', '--role=envoy', `--tls-dir=${tlsDir}`, '--wait-timeout=5s']))
  const bare: number[] = []
  for (let i = 0; i < runs; i++) bare.push(timeRun(['version']))
  await rm(dir, { recursive: true, force: true })
  console.log(`\n## bootstrap-tls start-up (dist bundle, Node ${process.versions.node}, ${runs} runs each, process start to exit)`)
  console.log('| command | median ms | min ms | max ms | target |')
  console.log('|---|---|---|---|---|')
  const row = (name: string, xs: number[], target: string) => console.log(`| ${name} | ${median(xs).toFixed(1)} | ${Math.min(...xs).toFixed(1)} | ${Math.max(...xs).toFixed(1)} | ${target} |`)
  row('bootstrap-tls --role=envoy (valid files in place)', envoy, '<= 150')
  row('bootstrap-tls --out-dir (fresh set)', outDirs, '<= 500')
  row('version (node + CLI floor)', bare, '-')
}
