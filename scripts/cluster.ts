// `npm run cluster:up` / `npm run cluster:down`: a local control plane (etcd, kube-apiserver,
// kube-controller-manager, a Ready Node without kubelet) plus the webhook from the working tree,
// registered the way the chart registers it. State, kubeconfig and logs go to .local-cluster/.
import { relative } from 'node:path'
import { downCluster, upCluster } from './cluster/cluster-up.ts'
import { DEFAULT_STATE_DIR, REPO_ROOT } from './cluster/paths.ts'

const usage = `Usage: node scripts/cluster.ts <up|down> [--state-dir DIR] [--nodes]

  up     start (or reuse) the local cluster and the webhook; prints how to use it
  down   stop every process 'up' started, and nothing else (and undo what a node changed)
  --state-dir DIR   where state, kubeconfig and logs live (default .local-cluster)
  --nodes           (up) a real node: containerd, kubelet, scheduler, kube-proxy, CoreDNS;
                    the whole cluster then runs in a network namespace of its own (root)
`

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  let stateDir = DEFAULT_STATE_DIR
  let nodes = false
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i] ?? ''
    if (arg === '--state-dir' && rest[i + 1] !== undefined) stateDir = rest[++i] ?? stateDir
    else if (arg.startsWith('--state-dir=')) stateDir = arg.slice('--state-dir='.length)
    else if (arg === '--nodes') nodes = true
    else {
      process.stderr.write(`cluster: unknown argument "${arg}"\n\n${usage}`)
      return 2
    }
  }
  const log = (line: string) => process.stderr.write(`[cluster ${new Date().toISOString().slice(11, 19)}] ${line}\n`)
  const started = Date.now()
  try {
    if (command === 'up') {
      const cluster = await upCluster({ stateDir, log, webhook: { drainSeconds: 1 }, nodes })
      const rel = (p: string) => relative(process.cwd(), p) || '.'
      const kubectl = relative(process.cwd(), `${REPO_ROOT}/.bin/kubectl`)
      process.stdout.write([
        '',
        `Local cluster ${cluster.reused ? 'was already running' : 'is up'} (${((Date.now() - started) / 1000).toFixed(1)}s). Use it with:`,
        `  export KUBECONFIG=${cluster.paths.kubeconfig}`,
        `  ${kubectl} get pods -A`,
        `  ${kubectl} create namespace demo && ${kubectl} label namespace demo contour-tls-injection=enabled`,
        '',
        `apiserver ${cluster.admin.server}, webhook ${cluster.webhookUrl} (from the working tree; restart with down/up after edits)`,
        ...(cluster.net === undefined ? [] : [`real node cti-node in network namespace ${cluster.net.netns} (no route out; enter it with: ip netns exec ${cluster.net.netns} ...)`]),
        `logs in ${rel(cluster.paths.logs)}/; stop everything with: npm run cluster:down`,
        '',
      ].join('\n'))
      return 0
    }
    if (command === 'down') {
      const stopped = await downCluster({ stateDir, log })
      log(`stopped ${stopped} process(es) in ${((Date.now() - started) / 1000).toFixed(1)}s`)
      return 0
    }
    process.stderr.write(usage)
    return 2
  } catch (err) {
    const code = (err as { code?: unknown }).code
    log(`FAILED${typeof code === 'string' ? ` (${code})` : ''}: ${(err as Error).message}`)
    return 1
  }
}

if (import.meta.main) process.exitCode = await main(process.argv.slice(2))
