// `npm run bench`: every performance figure the issues ask for, printed; nothing asserted.
import { existsSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { benchWebhook } from './bench/webhook.ts'
import { benchBootstrap } from './bench/bootstrap.ts'
import { benchLifecycle } from './bench/lifecycle.ts'
import { benchSidecar } from './bench/sidecar.ts'

const only = process.argv[2]
console.log(`contour-tls-injector benchmarks — Node ${process.versions.node}, ${new Date().toISOString()}`)
if (only === undefined || only === 'webhook') await benchWebhook(Number(process.env.BENCH_SECONDS ?? 10))
if (only === undefined || only === 'bootstrap') await benchBootstrap()
if (only === undefined || only === 'sidecar') await benchSidecar()
if (only === undefined || only === 'lifecycle') await benchLifecycle()
if ((only === undefined || only === 'cluster') && existsSync('scripts/bench-cluster.ts')) {
  const r = spawnSync(process.execPath, ['scripts/bench-cluster.ts'], { stdio: 'inherit' })
  if (r.status !== 0) process.exitCode = r.status ?? 1
}
// The real node needs root (and what scripts/test-prepare.sh installs): `npm run bench -- node`.
if (only === 'node' || (only === undefined && process.getuid?.() === 0)) {
  const r = spawnSync(process.execPath, ['scripts/bench-node.ts', ...process.argv.slice(3)], { stdio: 'inherit' })
  if (r.status !== 0) process.exitCode = r.status ?? 1
}
