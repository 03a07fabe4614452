// Kernel settings the kubelet (and kube-proxy) change machine-wide: their values before `up`
// are recorded once, and `down` writes them back. Per-netns ones (ip_forward, route_localnet)
// vanish with the node's network namespace and need nothing.
import { readFile, writeFile } from 'node:fs/promises'

export const GLOBAL_SYSCTLS = [
  'vm.overcommit_memory', 'vm.panic_on_oom', 'kernel.panic', 'kernel.panic_on_oops',
  'kernel.keys.root_maxkeys', 'kernel.keys.root_maxbytes', 'net.bridge.bridge-nf-call-iptables',
] as const

const path = (name: string) => `/proc/sys/${name.replaceAll('.', '/')}`

export async function readSysctls(): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const name of GLOBAL_SYSCTLS) {
    const value = await readFile(path(name), 'utf8').catch(() => undefined)
    if (value !== undefined) out[name] = value.trim()
  }
  return out
}

/** Writes back every recorded value that differs now; returns "name old->recorded" for each. */
export async function restoreSysctls(recorded: Readonly<Record<string, string>>): Promise<string[]> {
  const changed: string[] = []
  for (const [name, value] of Object.entries(recorded)) {
    const now = (await readFile(path(name), 'utf8').catch(() => '')).trim()
    if (now === value) continue
    await writeFile(path(name), `${value}\n`)
    changed.push(`${name} ${now}->${value}`)
  }
  return changed
}
