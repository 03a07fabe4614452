// `npm run bench -- sidecar`: bootstrap-tls as the Contour pod's sidecar, the shipped bundle with
// the image's node flags, against the fake apiserver (HTTPS) with a test kubelet projecting the
// Secrets: its resident memory once the set is in place and it polls (steady state), its peak, and
// the API requests it made per poll. The poll interval is shortened to count requests quickly;
// per hour at the default 10 minutes follows from the per-poll figure.
import { spawn } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { startFakeApiServer } from '../../test/helpers/fake-apiserver.ts'
import { startFakeKubelet } from '../../test/bootstrap/fake-kubelet.ts'
import { secretAdmin } from '../../test/bootstrap/secret-admin.ts'
import { ENTRYPOINT_NODE_FLAGS } from './node-flags.ts'

async function memory(pid: number): Promise<{ rssMb: number; peakMb: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN)
  return { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 }
}

async function idleNodeRss(): Promise<number> {
  const child = spawn(process.execPath, [...ENTRYPOINT_NODE_FLAGS, '-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' })
  await sleep(1000)
  const { rssMb } = await memory(child.pid as number)
  child.kill()
  return rssMb
}

export async function benchSidecar(seconds = Number(process.env.BENCH_SIDECAR_SECONDS ?? 30)): Promise<void> {
  const api = await startFakeApiServer()
  const dir = await mkdtemp(join(tmpdir(), 'cti-bench-sidecar-'))
  const ns = 'projectcontour'
  const kubeconfig = await api.writeKubeconfig(dir, { namespace: ns })
  const tlsDir = join(dir, 'tls')
  for (const m of ['contour', 'ca']) await mkdir(join(tlsDir, m), { recursive: true })
  const kubelet = startFakeKubelet(secretAdmin(kubeconfig, ns), tlsDir, { contour: 'contour-tls', ca: 'contour-ca' }, 100)
  const pollMs = 2000
  const run = async (label: string): Promise<void> => {
    const child = spawn(process.execPath, [...ENTRYPOINT_NODE_FLAGS, 'dist/cli.js', 'bootstrap-tls', '--role=contour', '--sidecar', `--poll-interval=${pollMs}ms`, `--kubeconfig=${kubeconfig}`, `--namespace=${ns}`, `--tls-dir=${tlsDir}`], { stdio: ['ignore', 'ignore', 'pipe'] })
    let log = ''
    child.stderr.on('data', (d: Buffer) => (log += d.toString()))
    try {
      const started = Date.now()
      while (!/sidecar: the set is in place/.test(log)) {
        if (Date.now() - started > 60_000 || child.exitCode !== null) throw new Error(`the sidecar did not settle: ${log}`)
        await sleep(100)
      }
      const afterFirst = await memory(child.pid as number)
      // The test kubelet reads through the same API: stopped, so only the sidecar's requests count.
      await kubeletStop()
      const before = api.requests.length
      const samples: number[] = []
      const t0 = Date.now()
      while (Date.now() - t0 < seconds * 1000) {
        await sleep(1000)
        samples.push((await memory(child.pid as number)).rssMb)
      }
      const polls = (Date.now() - t0) / pollMs
      const requests = api.requests.length - before
      const final = await memory(child.pid as number)
      samples.sort((a, b) => a - b)
      console.log(`- ${label}: RSS after the first pass ${afterFirst.rssMb.toFixed(1)} MB; while polling median ${(samples[samples.length >> 1] ?? 0).toFixed(1)} MB, max ${(samples.at(-1) ?? 0).toFixed(1)} MB; peak (VmHWM) ${final.peakMb.toFixed(1)} MB`)
      console.log(`  API requests while polling: ${requests} in about ${polls.toFixed(0)} polls = ${(requests / polls).toFixed(2)} per poll; at the default 10-minute poll ${((requests / polls) * 6).toFixed(1)} per hour, plus a full pass (4 GETs) every 6 h`)
    } finally {
      child.kill('SIGTERM')
      await new Promise((resolve) => child.once('exit', resolve))
    }
  }
  let stopped = false
  const kubeletStop = async (): Promise<void> => {
    if (!stopped) await kubelet.stop()
    stopped = true
  }
  try {
    const floor = await idleNodeRss()
    console.log(`\n## bootstrap-tls --sidecar (dist bundle, node ${ENTRYPOINT_NODE_FLAGS.join(' ')}, fake apiserver over HTTPS, ${seconds} s of polling every ${pollMs} ms; goal: under 40 MB)`)
    console.log(`- floor: an idle Node ${process.versions.node} process with the same flags: ${floor.toFixed(1)} MB RSS`)
    await run('first start (creates the set: node-forge loaded)')
    await run('a restart (the set exists: node-forge never loaded)')
  } finally {
    await kubeletStop()
    await api.close()
    await rm(dir, { recursive: true, force: true })
  }
}
