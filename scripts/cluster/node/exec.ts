// Running the host tools a node needs (ip, iptables, nsenter, ctr, mount) and failing with the
// command, its exit code and the end of its output.
import { execFile } from 'node:child_process'

export class NodeCommandError extends Error {
  readonly code = 'ERR_NODE_COMMAND'
  constructor(argv: readonly string[], detail: string) {
    super(`${argv.join(' ')}: ${detail}`)
    this.name = 'NodeCommandError'
  }
}

export interface CommandResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Runs argv; resolves whatever the exit code (the caller decides). */
export function runCommand(argv: readonly string[], timeoutMs = 60_000): Promise<CommandResult> {
  const [cmd, ...args] = argv
  if (cmd === undefined) throw new Error('runCommand: empty argv')
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 16 << 20, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err !== null && typeof (err as NodeJS.ErrnoException).code === 'string') {
        reject(new NodeCommandError(argv, `cannot run: ${err.message}`))
        return
      }
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr })
    })
  })
}

/** Runs argv and throws NodeCommandError unless it exits 0; resolves to stdout. */
export async function mustRun(argv: readonly string[], timeoutMs?: number): Promise<string> {
  const res = await runCommand(argv, timeoutMs)
  if (res.code !== 0) throw new NodeCommandError(argv, `exit ${res.code}: ${(res.stderr || res.stdout).trim().slice(-400)}`)
  return res.stdout
}

/** argv run inside the node's network namespace (network only: mounts, /sys and cgroups stay the host's). */
export function inNetns(netnsPath: string, argv: readonly string[]): string[] {
  return ['nsenter', `--net=${netnsPath}`, '--', ...argv]
}
