// The state file: what `up` started (pids, argv, start times) and on which ports, so `down`
// and a second `up` act on exactly those processes. Also the lock that serialises them.
import { mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import type { ProcessRecord } from './processes.ts'
import type { Log } from './wait.ts'
import type { NodeRecord } from './node/node-down.ts'

export const COMPONENTS = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'webhook'] as const
export type Component = (typeof COMPONENTS)[number]

export interface Ports {
  readonly etcd: number
  readonly etcdPeer: number
  readonly apiserver: number
  readonly controllerManager: number
  readonly webhook: number
}

export interface WebhookRun {
  /** Seconds the webhook keeps serving after SIGTERM (0 makes stops and restarts quick). */
  readonly drainSeconds: number
  /** The CLI entry point: `src/cli.ts` (working tree, default) or `dist/cli.js` (the built bundle). */
  readonly cli: string
}

export interface ClusterState {
  readonly version: 1
  readonly ports: Ports
  readonly processes: Partial<Record<Component, ProcessRecord>>
  /** How the webhook is run, so a restart of one component runs it the same way. */
  readonly webhook?: WebhookRun
  /** Other daemons started against this cluster (e.g. `contour serve` in the e2e suite); stopped first. */
  readonly extras?: Readonly<Record<string, ProcessRecord>>
  /** The real node (`up --nodes`): its network, recorded sysctls and daemons; `down` stops it first. */
  readonly node?: NodeRecord
}

/** Every recorded process in stopping order: extras, then the components in reverse start order. */
export function recordsToStop(state: ClusterState): Array<[string, ProcessRecord]> {
  const out: Array<[string, ProcessRecord]> = Object.entries(state.extras ?? {})
  for (const name of [...COMPONENTS].reverse()) {
    const record = state.processes[name]
    if (record !== undefined) out.push([name, record])
  }
  return out
}

export async function readState(path: string): Promise<ClusterState | undefined> {
  const text = await readFile(path, 'utf8').catch(() => undefined)
  if (text === undefined) return undefined
  try {
    const state = JSON.parse(text) as ClusterState
    return state.version === 1 ? state : undefined
  } catch {
    return undefined
  }
}

export async function writeState(path: string, state: ClusterState): Promise<void> {
  await writeFile(`${path}.tmp`, JSON.stringify(state, null, 2) + '\n')
  await rename(`${path}.tmp`, path)
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * An exclusive lock file holding the owner's pid. A lock whose owner is dead is taken over;
 * a live owner is waited for (with progress), so two `up`s or two test workers never race.
 */
export async function acquireLock(path: string, log: Log, timeoutMs = 300_000): Promise<() => Promise<void>> {
  await mkdir(dirname(path), { recursive: true })
  const started = Date.now()
  let reported = started
  for (;;) {
    try {
      const fh = await open(path, 'wx')
      await fh.write(String(process.pid))
      await fh.close()
      return async () => rm(path, { force: true })
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
    const owner = Number(await readFile(path, 'utf8').catch(() => ''))
    if (!Number.isInteger(owner) || owner <= 0 || !alive(owner)) {
      await rm(path, { force: true })
      continue
    }
    if (Date.now() - started > timeoutMs) throw new Error(`${path} is held by pid ${owner} for more than ${timeoutMs / 1000}s; remove it if that process is not a cluster script`)
    if (Date.now() - reported > 5000) {
      log(`  waiting for the cluster lock ${path} (held by pid ${owner})`)
      reported = Date.now()
    }
    await new Promise((r) => setTimeout(r, 250))
  }
}
