// buildah as the image test's container runtime, set up as scripts/build-image.sh sets it up:
// chroot isolation (no OCI runtime; the host's network, so the host reaches the webhook) and
// the storage driver from CTI_STORAGE_DRIVER, else buildah's own choice.
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { readFile, readdir } from 'node:fs/promises'
import { promisify } from 'node:util'

const execFileAsync = promisify(execFile)

export interface BuildahOptions {
  readonly storageDriver?: string
}

export interface ImageConfig {
  readonly User?: string
  readonly Entrypoint?: readonly string[]
  readonly Labels?: Readonly<Record<string, string>>
}

export function createBuildah(opts: BuildahOptions = {}) {
  const globalFlags = opts.storageDriver ? ['--storage-driver', opts.storageDriver] : []
  const env = { ...process.env, BUILDAH_ISOLATION: 'chroot' }

  async function run(args: readonly string[]): Promise<string> {
    const { stdout } = await execFileAsync('buildah', [...globalFlags, ...args], { env, maxBuffer: 16 << 20 })
    return stdout
  }

  return {
    run,
    /** A long-running `buildah run`, e.g. a server; its stdout and stderr are piped. */
    spawn: (args: readonly string[]): ChildProcess => spawn('buildah', [...globalFlags, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] }),
    async imageConfig(ref: string): Promise<ImageConfig> {
      const inspected = JSON.parse(await run(['inspect', '--type', 'image', ref])) as { OCIv1: { config: ImageConfig } }
      return inspected.OCIv1.config
    },
    async imageSize(ref: string): Promise<string> {
      const [image] = JSON.parse(await run(['images', '--json', ref])) as { size: string }[]
      return image?.size ?? 'unknown'
    },
  }
}

export type Buildah = ReturnType<typeof createBuildah>

/**
 * The PID of the first process under `ancestor` whose command line starts with `executable`.
 * `buildah run` answers SIGTERM by killing its child, so a graceful stop signals the process
 * itself, as the kubelet's SIGTERM reaches a container's PID 1.
 */
export async function findDescendant(ancestor: number, executable: string): Promise<number | undefined> {
  const children = new Map<number, number[]>()
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '')
    // Fields after the parenthesised command name: state, ppid, ...
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
    if (Number.isInteger(ppid)) children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)])
  }
  const queue = [...(children.get(ancestor) ?? [])]
  for (let pid = queue.shift(); pid !== undefined; pid = queue.shift()) {
    const argv0 = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0')[0]
    if (argv0 === executable) return pid
    queue.push(...(children.get(pid) ?? []))
  }
  return undefined
}
