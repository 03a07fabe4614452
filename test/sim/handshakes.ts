// A pool of handshake workers (handshake-worker.ts) running under libfaketime, so that each real
// TLS 1.3 handshake checks certificate validity at the simulated time, not the machine's.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'

export interface TlsEnd {
  readonly cert: string
  readonly key: string
  readonly ca: string
}

export interface HandshakeResult {
  readonly ok: boolean
  /** What the server (Contour) said about the client's certificate, if it refused. */
  readonly server?: string
  /** What the client (Envoy) said about the server's certificate, if it refused. */
  readonly client?: string
  readonly protocol?: string
}

const LIBFAKETIME = ['/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1', '/usr/lib/faketime/libfaketimeMT.so.1'].find((p) => existsSync(p))

export function faketimeAvailable(): string | undefined {
  return LIBFAKETIME
}

interface Worker {
  readonly child: ChildProcessWithoutNullStreams
  readonly waiting: Array<(r: HandshakeResult) => void>
}

export interface Handshaker {
  handshake(at: number, server: TlsEnd, client: TlsEnd): Promise<HandshakeResult>
  close(): Promise<void>
}

export async function startHandshaker(workers = 2): Promise<Handshaker> {
  if (LIBFAKETIME === undefined) throw new Error('libfaketime is not installed (Debian package faketime): the simulation needs it to handshake at simulated times')
  const dir = await mkdtemp(join(tmpdir(), 'sim-faketime-'))
  const pool: Worker[] = []
  for (let i = 0; i < workers; i++) {
    const file = join(dir, `time-${i}`)
    const child = spawn(process.execPath, [join(import.meta.dirname, 'handshake-worker.ts')], {
      env: { ...process.env, TZ: 'UTC', LD_PRELOAD: LIBFAKETIME, FAKETIME_TIMESTAMP_FILE: file, FAKETIME_NO_CACHE: '1', FAKETIME_DONT_FAKE_MONOTONIC: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    const worker: Worker = { child, waiting: [] }
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.on('exit', (code) => {
      for (const w of worker.waiting.splice(0)) w({ ok: false, server: `worker exited ${code}: ${stderr.slice(-300)}` })
    })
    createInterface({ input: child.stdout }).on('line', (line) => worker.waiting.shift()?.(JSON.parse(line) as HandshakeResult))
    pool.push(worker)
  }
  let next = 0
  return {
    handshake(at, server, client) {
      const worker = pool[next++ % pool.length] as Worker
      return new Promise((resolve) => {
        worker.waiting.push(resolve)
        worker.child.stdin.write(`${JSON.stringify({ at, server, client })}\n`)
      })
    },
    async close() {
      await Promise.all(pool.map((w) => new Promise<void>((resolve) => {
        if (w.child.exitCode !== null) return resolve()
        w.child.once('exit', () => resolve())
        w.child.stdin.end()
      })))
      await rm(dir, { recursive: true, force: true })
    },
  }
}
