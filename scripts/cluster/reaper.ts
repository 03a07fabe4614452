// Watchdog for clusters started by a test run: when the process that started the cluster is
// gone (even by SIGKILL, e.g. a tap timeout), stop the cluster's processes. Runs detached:
//   node scripts/cluster/reaper.ts <owner-pid> <owner-start-time> <state-dir>
import { readFile } from 'node:fs/promises'
import { downCluster } from './cluster-up.ts'

async function ownerAlive(pid: number, startTime: string): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined)
  if (stat === undefined) return false
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return fields[0] !== 'Z' && fields[19] === startTime
}

const [pidArg, startTime, stateDir] = process.argv.slice(2)
const pid = Number(pidArg)
if (!Number.isInteger(pid) || startTime === undefined || stateDir === undefined) {
  process.stderr.write('usage: reaper.ts <owner-pid> <owner-start-time> <state-dir>\n')
  process.exit(2)
}
while (await ownerAlive(pid, startTime)) await new Promise((r) => setTimeout(r, 1000))
const log = (line: string) => process.stderr.write(`[reaper ${new Date().toISOString()}] ${line}\n`)
log(`owner ${pid} is gone; stopping the cluster in ${stateDir}`)
await downCluster({ stateDir, log })
