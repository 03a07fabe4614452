// What a real node needs from the machine, checked before anything is started, each failure
// naming what to do.
import { access, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Binaries, REPO_ROOT } from '../paths.ts'

export class NodePrerequisiteError extends Error {
  readonly code: string
  constructor(code: string, message: string) {
    super(message)
    this.code = code
    this.name = 'NodePrerequisiteError'
  }
}

const exists = (p: string) => access(p).then(() => true, () => false)

export const NODE_IMAGES_LIST = join(REPO_ROOT, '.local-cluster', 'node-images')

export async function checkNodePrerequisites(): Promise<void> {
  if (process.getuid?.() !== 0) throw new NodePrerequisiteError('ERR_NODE_NOT_ROOT', 'a real node needs root (network namespace, containerd, cgroups): run `sudo npm run cluster:up -- --nodes`')
  const mounts = await readFile('/proc/self/mounts', 'utf8')
  if (!/ \/sys\/fs\/cgroup(\/memory)? cgroup2? /.test(mounts) && !mounts.includes(' /sys/fs/cgroup cgroup2 ')) {
    throw new NodePrerequisiteError('ERR_NODE_NO_CGROUPS', 'no cgroup hierarchy is mounted at /sys/fs/cgroup (the kubelet needs cgroup v1 with memory, or v2); mount them or run without --nodes')
  }
  if (!(await readFile('/proc/filesystems', 'utf8')).split('\n').some((l) => l.trim().endsWith('overlay'))) {
    throw new NodePrerequisiteError('ERR_NODE_NO_OVERLAYFS', 'the kernel has no overlay filesystem (containerd\'s overlayfs snapshotter needs it); try `modprobe overlay` or run without --nodes')
  }
  const tools = ['/usr/bin/containerd', '/usr/bin/ctr', '/usr/sbin/runc', '/usr/lib/cni/bridge', '/usr/lib/cni/host-local']
  const missingTools = []
  for (const t of tools) if (!(await exists(t))) missingTools.push(t)
  if (missingTools.length > 0) throw new NodePrerequisiteError('ERR_NODE_PACKAGES', `missing ${missingTools.join(', ')}: run \`bash scripts/node/install-packages.sh\``)
  const bins = [Binaries.kubelet, Binaries.scheduler, Binaries.proxy, Binaries.coredns]
  const missingBins = []
  for (const b of bins) if (!(await exists(b))) missingBins.push(b)
  if (missingBins.length > 0) throw new NodePrerequisiteError('ERR_MISSING_BINARIES', `missing ${missingBins.join(', ')}: run \`bash scripts/build-binaries.sh\``)
  if (!(await exists(NODE_IMAGES_LIST))) throw new NodePrerequisiteError('ERR_NODE_IMAGES', `no ${NODE_IMAGES_LIST}: run \`bash scripts/node/build-images.sh\``)
}

/** "<reference> <archive>" lines written by scripts/node/build-images.sh. */
export async function nodeImages(): Promise<Array<{ ref: string; archive: string }>> {
  const text = await readFile(NODE_IMAGES_LIST, 'utf8')
  return text.split('\n').filter((l) => l.trim() !== '').map((l) => {
    const [ref = '', archive = ''] = l.trim().split(' ')
    return { ref, archive }
  })
}
