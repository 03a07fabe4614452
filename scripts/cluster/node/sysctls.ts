// Kernel settings the kubelet (and kube-proxy) change machine-wide. They are machine-wide, so
// is their record: /run/contour-tls-injector/node-sysctls.json holds the values from before the
// first node on this machine started and the state directories of the nodes using it. `down`
// writes the values back once the last node whose kubelet still runs is gone. (A per-cluster
// record would capture another cluster's changes and write those back.) Per-netns ones
// (ip_forward, route_localnet) vanish with the node's network namespace and need nothing.
import { mkdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { isOurs, type ProcessRecord } from '../processes.ts'
import { acquireLock } from '../state.ts'
import type { Log } from '../wait.ts'

export const GLOBAL_SYSCTLS = [
  'vm.overcommit_memory', 'vm.panic_on_oom', 'kernel.panic', 'kernel.panic_on_oops',
  'kernel.keys.root_maxkeys', 'kernel.keys.root_maxbytes', 'net.bridge.bridge-nf-call-iptables',
] as const

const RECORD_DIR = '/run/contour-tls-injector'
const RECORD = join(RECORD_DIR, 'node-sysctls.json')

interface SysctlRecord {
  readonly values: Record<string, string>
  readonly owners: readonly string[]
}

const path = (name: string) => `/proc/sys/${name.replaceAll('.', '/')}`

export async function readSysctls(): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const name of GLOBAL_SYSCTLS) {
    const value = await readFile(path(name), 'utf8').catch(() => undefined)
    if (value !== undefined) out[name] = value.trim()
  }
  return out
}

async function withRecord<T>(log: Log, fn: (record: SysctlRecord | undefined) => Promise<[SysctlRecord | undefined, T]>): Promise<T> {
  await mkdir(RECORD_DIR, { recursive: true })
  const unlock = await acquireLock(`${RECORD}.lock`, log)
  try {
    const text = await readFile(RECORD, 'utf8').catch(() => undefined)
    const [next, result] = await fn(text === undefined ? undefined : (JSON.parse(text) as SysctlRecord))
    if (next === undefined) await rm(RECORD, { force: true })
    else await writeFile(RECORD, JSON.stringify(next, null, 2) + '\n')
    return result
  } finally {
    await unlock()
    // The directory goes with the last record (rmdir fails while anything is left in it).
    await rmdir(RECORD_DIR).catch(() => undefined)
  }
}

/** Before a kubelet starts: records the machine's values (unless a node already did) and joins. */
export async function claimSysctls(stateDir: string, log: Log): Promise<void> {
  await withRecord(log, async (record) => {
    const values = record?.values ?? (await readSysctls())
    const owners = [...new Set([...(record?.owners ?? []), stateDir])]
    return [{ values, owners }, undefined]
  })
}

/** A node whose kubelet still runs (its state directory's record, verified by pid and argv). */
async function kubeletRuns(stateDir: string): Promise<boolean> {
  const text = await readFile(join(stateDir, 'state.json'), 'utf8').catch(() => undefined)
  const kubelet = text === undefined ? undefined : (JSON.parse(text) as { node?: { processes?: { kubelet?: ProcessRecord } } }).node?.processes?.kubelet
  return kubelet !== undefined && (await isOurs(kubelet))
}

/** After the kubelet stopped: leaves; the last node out writes back what differs. Returns "name now->original" for each. */
export async function releaseSysctls(stateDir: string, log: Log): Promise<string[]> {
  return withRecord(log, async (record) => {
    if (record === undefined) return [undefined, []]
    const others: string[] = []
    for (const o of record.owners) if (o !== stateDir && (await kubeletRuns(o))) others.push(o)
    if (others.length > 0) return [{ values: record.values, owners: others }, []]
    const changed: string[] = []
    for (const [name, value] of Object.entries(record.values)) {
      const now = (await readFile(path(name), 'utf8').catch(() => '')).trim()
      if (now === value) continue
      await writeFile(path(name), `${value}\n`)
      changed.push(`${name} ${now}->${value}`)
    }
    return [undefined, changed]
  })
}
