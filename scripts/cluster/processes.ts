// Starting and stopping the cluster's daemons. A process is "ours" only if the pid recorded in
// the state file still runs the exact argv we started and started at the recorded time, so a
// recycled pid is never signalled.
import { spawn } from 'node:child_process'
import { open, readFile } from 'node:fs/promises'
import { join } from 'node:path'

export interface ProcessRecord {
  readonly pid: number
  readonly argv: readonly string[]
  /** /proc/<pid>/stat field 22 (clock ticks since boot): distinguishes a recycled pid. */
  readonly startTime: string
  readonly log: string
}

/** Variables a spawned daemon must not inherit: tap's coverage and loader hooks, npm's noise. */
const DROPPED_ENV = /^(NODE_OPTIONS|NODE_V8_COVERAGE|TAP|TAP_.*|_TAPJS_.*|npm_.*)$/

export function daemonEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!DROPPED_ENV.test(k)) env[k] = v
  return { ...env, ...extra }
}

export async function procStartTime(pid: number): Promise<string | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined)
  if (stat === undefined) return undefined
  // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return fields[19]
}

async function procArgv(pid: number): Promise<string[] | undefined> {
  const raw = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => undefined)
  if (raw === undefined || raw === '') return undefined
  return raw.replace(/\0$/, '').split('\0')
}

/** Starts a detached daemon (own process group, output to a log file, no handle on us). */
export async function spawnDaemon(argv: readonly string[], logDir: string, name: string, env: NodeJS.ProcessEnv, cwd?: string, via: readonly string[] = []): Promise<ProcessRecord> {
  const [command, ...args] = argv
  if (command === undefined) throw new Error('spawnDaemon: empty argv')
  const log = join(logDir, `${name}.log`)
  const fh = await open(log, 'a')
  await fh.write(`\n==== ${new Date().toISOString()} starting: ${argv.join(' ')}\n`)
  // Through env(1): a test runner may hook child_process.spawn to add NODE_OPTIONS and coverage
  // variables to every child (tap does); env(1) drops them again, so a daemon runs as it would
  // in production and its pid, after env execs it, carries exactly `argv`.
  const unset = ['NODE_OPTIONS', 'NODE_V8_COVERAGE', '_TAPJS_PROCESSINFO_EXCLUDE_', '_TAPJS_PROCESSINFO_EXTERNAL_ID_', ...Object.keys(process.env).filter((k) => DROPPED_ENV.test(k))].flatMap((k) => ['-u', k])
  // `via` (e.g. nsenter into the node's network namespace) must exec, not fork, so the pid stays.
  const child = spawn('/usr/bin/env', [...unset, ...via, command, ...args], { detached: true, stdio: ['ignore', fh.fd, fh.fd], env, cwd })
  // Listen before awaiting anything: 'spawn' fires on the next tick.
  const spawned = new Promise<number>((resolve, reject) => {
    child.once('error', (err) => reject(new Error(`cannot start ${name} (${command}): ${err.message}`)))
    child.once('spawn', () => resolve(child.pid ?? -1))
  })
  child.unref()
  const pid = await spawned.finally(() => fh.close())
  const startTime = (await procStartTime(pid)) ?? ''
  const record = { pid, argv: [...argv], startTime, log }
  // Until env(1) has exec'd, the pid still shows env's argv.
  for (let i = 0; i < 200 && !(await isOurs(record)) && (await procStartTime(pid)) === startTime; i++) await new Promise((r) => setTimeout(r, 10))
  return record
}

/** True when the recorded process is alive and is still the one we started. */
export async function isOurs(record: ProcessRecord): Promise<boolean> {
  const [argv, startTime] = await Promise.all([procArgv(record.pid), procStartTime(record.pid)])
  if (argv === undefined || startTime !== record.startTime) return false
  return argv.length === record.argv.length && argv.every((a, i) => a === record.argv[i])
}

/** false when the process is already gone (it may exit between our check and the signal). */
function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false
    throw err
  }
}

/** Zombies still have a /proc entry; a stopped process is one whose state is Z or that is gone. */
async function gone(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined)
  return stat === undefined || stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')
}

/**
 * SIGTERM, wait up to `graceMs` (printing progress), then SIGKILL. Does nothing unless the
 * pid is verifiably ours. Returns what happened, for the caller's report.
 */
export async function stopProcess(name: string, record: ProcessRecord, log: (line: string) => void, graceMs = 10_000): Promise<'not-running' | 'stopped' | 'killed'> {
  if (!(await isOurs(record))) return 'not-running'
  if (!signal(record.pid, 'SIGTERM')) return 'stopped'
  const started = Date.now()
  let lastReport = started
  while (Date.now() - started < graceMs) {
    if (await gone(record.pid)) return 'stopped'
    if (Date.now() - lastReport >= 2000) {
      log(`  waiting for ${name} (pid ${record.pid}) to exit after SIGTERM (${Math.round((Date.now() - started) / 1000)}s/${graceMs / 1000}s)`)
      lastReport = Date.now()
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  if (await isOurs(record)) signal(record.pid, 'SIGKILL')
  return 'killed'
}
