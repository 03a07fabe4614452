// Stops the real node and undoes what it did outside its state directory: the pods' tasks and
// containerd's shims, mounts under the state directory, the kubelet's cgroups, containerd's
// files under /run/containerd and /var/lib/cni, the network namespace (with it the bridge, the
// veth, every iptables chain and per-namespace sysctl) and the machine-wide sysctls.
import { readdir, readFile, rm, rmdir } from 'node:fs/promises'
import { join } from 'node:path'
import { stopProcess, type ProcessRecord } from '../processes.ts'
import type { Log } from '../wait.ts'
import { NODE_COMPONENTS, type NodeComponent } from './components.ts'
import { nodePaths } from './config-files.ts'
import { runCommand } from './exec.ts'
import { CNI_NETWORK, deleteNodeNet, type NodeNet } from './net.ts'
import { releaseSysctls } from './sysctls.ts'

export interface NodeRecord {
  readonly net: NodeNet
  readonly processes: Partial<Record<NodeComponent, ProcessRecord>>
  /** Of /run/containerd and /var/lib/cni, those that did not exist before the node: removed by `down`. */
  readonly created: readonly string[]
}

async function pidsWithArg(fragment: string): Promise<number[]> {
  const out: number[] = []
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const argv = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')
    if (argv.startsWith('/usr/bin/containerd-shim') && argv.split('\0').includes(fragment)) out.push(Number(entry))
  }
  return out
}

/** A live (not zombie) process named containerd, ours just stopped or anyone else's. */
async function containerdRunning(): Promise<boolean> {
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '')
    if (stat.includes(' (containerd) ') && !stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return true
  }
  return false
}

async function removeTree(dir: string): Promise<number> {
  let removed = 0
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => [])
  for (const e of entries) if (e.isDirectory()) removed += await removeTree(join(dir, e.name))
  if (await rmdir(dir).then(() => true, () => false)) removed++
  return removed
}

export async function stopNode(stateDir: string, node: NodeRecord, log: Log): Promise<number> {
  const p = nodePaths(stateDir, node.net)
  let stopped = 0
  const stop = async (name: NodeComponent) => {
    const record = node.processes[name]
    if (record === undefined) return
    const result = await stopProcess(name, record, log)
    log(`${name} (pid ${record.pid}): ${result}`)
    if (result !== 'not-running') stopped++
  }
  for (const name of [...NODE_COMPONENTS].reverse().filter((n) => n !== 'containerd')) await stop(name)
  // With the kubelet gone, end the pods' containers through containerd, then containerd itself.
  const ctr = (args: string[]) => runCommand(['ctr', '--address', p.containerdSocket, '-n', 'k8s.io', ...args], 30_000)
  const tasks = await ctr(['tasks', 'ls', '-q'])
  if (tasks.code === 0) {
    const ids = tasks.stdout.split('\n').filter((l) => l.trim() !== '')
    for (const id of ids) await ctr(['tasks', 'kill', '-s', 'SIGKILL', id])
    for (const id of ids) await ctr(['tasks', 'delete', '-f', id])
    if (ids.length > 0) log(`killed ${ids.length} container task(s)`)
  }
  await stop('containerd')
  // Shims serving our socket outlive containerd; only those are ours.
  for (const pid of await pidsWithArg(p.containerdSocket)) {
    try {
      process.kill(pid, 'SIGKILL')
      log(`killed leftover containerd shim ${pid}`)
    } catch {
      // already gone
    }
  }
  // Mounts under the node's directory (overlay rootfs, pod netns, volumes), deepest first.
  const mounts = (await readFile('/proc/self/mounts', 'utf8')).split('\n').map((l) => l.split(' ')[1] ?? '').filter((m) => m.startsWith(`${p.dir}/`))
  for (const m of mounts.sort().reverse()) {
    if ((await runCommand(['umount', m])).code !== 0) await runCommand(['umount', '-l', m])
  }
  if (mounts.length > 0) log(`unmounted ${mounts.length} mount(s) under ${p.dir}`)
  let cgroups = 0
  for (const line of (await readFile('/proc/self/mounts', 'utf8')).split('\n')) {
    const [, dir, type] = line.split(' ')
    if ((type === 'cgroup' || type === 'cgroup2') && dir !== undefined) cgroups += await removeTree(join(dir, p.cgroupRoot))
  }
  if (cgroups > 0) log(`removed ${cgroups} cgroup(s) under ${p.cgroupRoot}`)
  // containerd 1.6 keeps the runc root and shim sockets under /run/containerd whatever its config
  // says: with no containerd left running that directory holds nothing anyone needs. libcni caches
  // results under /var/lib/cni: removed when `up` created it, else only our network's entries.
  if (!(await containerdRunning()) && (await readdir('/run/containerd').then(() => true, () => false))) {
    await rm('/run/containerd', { recursive: true, force: true })
    log('removed /run/containerd')
  }
  if (node.created.includes('/var/lib/cni')) await rm('/var/lib/cni', { recursive: true, force: true })
  else {
    // `<network>-<sandbox id>-<ifname>`: our network's entries name our sandboxes, and each of
    // them also has a loopback entry.
    const results = await readdir('/var/lib/cni/results').catch(() => [] as string[])
    const ours = new Set(results.filter((f) => f.startsWith(`${CNI_NETWORK}-`)).map((f) => f.split('-')[1]))
    for (const f of results) {
      if (f.startsWith(`${CNI_NETWORK}-`) || (f.startsWith('cni-loopback-') && ours.has(f.split('-')[2]))) await rm(join('/var/lib/cni/results', f), { force: true })
    }
  }
  if (await deleteNodeNet(node.net)) log(`deleted network namespace ${node.net.netns} (bridge, veth, iptables chains)`)
  const restored = await releaseSysctls(stateDir, log)
  if (restored.length > 0) log(`restored sysctls: ${restored.join(', ')}`)
  return stopped
}
