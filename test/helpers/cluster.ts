// One real control plane for the end-to-end suite: started in its own state directory
// (`.local-cluster/test-<pid>`, never the developer's `.local-cluster` itself), guarded by a
// reaper process that stops it if the test process dies, and stopped by `stop()`.
import { spawn } from 'node:child_process'
import type { Test } from 'tap'
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { componentSpec, DEFAULT_WEBHOOK_RUN } from '../../scripts/cluster/components.ts'
import { downCluster, recordExtraProcess, setComponentRunning, upCluster, type ClusterInfo } from '../../scripts/cluster/cluster-up.ts'
import { createKubeApi, type KubeApi, type KubeCredentials } from '../../scripts/cluster/kube-api.ts'
import { writeKubeconfig } from '../../scripts/cluster/kubeconfig.ts'
import { Binaries, DEFAULT_STATE_DIR, NODE_BIN, REPO_ROOT, requireBinaries } from '../../scripts/cluster/paths.ts'
import { daemonEnv, isOurs, procStartTime, spawnDaemon, stopProcess, type ProcessRecord } from '../../scripts/cluster/processes.ts'
import { readState, recordsToStop, type WebhookRun } from '../../scripts/cluster/state.ts'
import { waitFor, type Log } from '../../scripts/cluster/wait.ts'
import type { InjectionSettings } from '../../src/core/injection/types.ts'
import { parseWebhookConfig } from '../../src/webhook/config.ts'

export interface RunResult {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

export interface TestCluster {
  readonly info: ClusterInfo
  /** Admin kubeconfig (client certificate, system:masters). */
  readonly kubeconfig: string
  readonly api: KubeApi
  /** The injection settings the running webhook was started with. */
  readonly webhookSettings: InjectionSettings
  kubectl(args: readonly string[], opts?: { input?: string; kubeconfig?: string; timeoutMs?: number }): Promise<RunResult>
  /** A new namespace `<prefix>-<n>` with labels; resolves once its `default` ServiceAccount exists. */
  createNamespace(prefix: string, labels?: Record<string, string>): Promise<string>
  /** A token from the TokenRequest API, as the kubelet would project it. */
  serviceAccountToken(namespace: string, name: string): Promise<string>
  /** A kubeconfig (JSON) authenticating as the service account. */
  serviceAccountKubeconfig(namespace: string, name: string): Promise<string>
  setWebhookRunning(running: boolean): Promise<void>
  /** Starts a daemon recorded in the cluster state, so the reaper and `stop()` end it whatever happens. */
  startDaemon(name: string, argv: readonly string[], env?: Record<string, string>): Promise<ProcessRecord>
  stopDaemon(name: string, record: ProcessRecord): Promise<void>
  /** A fresh directory inside the state directory: removed with it, kept with it when a test failed. */
  tmpDir(prefix: string): Promise<string>
  /** Stops every process the cluster started; resolves to those still running afterwards (none, normally). */
  stop(opts?: { keepState?: boolean }): Promise<string[]>
}

export function run(command: string, args: readonly string[], opts: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: opts.env ?? process.env, cwd: opts.cwd ?? REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'], timeout: opts.timeoutMs ?? 60_000, killSignal: 'SIGKILL' })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c))
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c))
    child.on('error', reject)
    child.on('close', (code, signal) => resolve({ code, stdout, stderr: signal === null ? stderr : `${stderr}\n(killed by ${signal})` }))
    child.stdin.end(opts.input)
  })
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Clusters of earlier runs whose test process died are stopped and removed. */
async function pruneStaleTestClusters(log: Log): Promise<void> {
  const entries = await readdir(DEFAULT_STATE_DIR).catch(() => [] as string[])
  for (const entry of entries) {
    const match = /^(?:test|bench)-(\d+)$/.exec(entry)
    if (match === null || pidAlive(Number(match[1]))) continue
    const dir = join(DEFAULT_STATE_DIR, entry)
    await downCluster({ stateDir: dir, log })
    await rm(dir, { recursive: true, force: true })
  }
}

export interface StartOptions {
  /** State directory `.local-cluster/<kind>-<pid>` (default test). */
  readonly kind?: 'test' | 'bench'
  readonly webhook?: Partial<WebhookRun>
  /** A real node (`cluster:up -- --nodes`): root, and the cluster runs in its own network namespace. */
  readonly nodes?: boolean
}

/**
 * A cluster for the suite `t`: a failed start fails `t` (never skips it) and answers undefined;
 * `stop()` is idempotent, runs at teardown, and keeps the state directory when `t` failed.
 */
export async function startClusterFor(t: Test, log: Log, opts: StartOptions = {}): Promise<{ cluster: TestCluster; stop: () => Promise<string[]> } | undefined> {
  let cluster: TestCluster
  try {
    cluster = await startTestCluster(log, opts)
  } catch (err) {
    t.fail(`the control plane did not start: ${(err as Error).message}`)
    return undefined
  }
  let stopping: Promise<string[]> | undefined
  const stop = () => (stopping ??= cluster.stop({ keepState: !t.passing() }))
  t.teardown(async () => {
    await stop()
  })
  return { cluster, stop }
}

export async function startTestCluster(log: Log, opts: StartOptions = {}): Promise<TestCluster> {
  await requireBinaries(['etcd', 'apiserver', 'controllerManager', 'kubectl', 'contour', 'contourCrds'])
  await pruneStaleTestClusters(log)
  const stateDir = join(DEFAULT_STATE_DIR, `${opts.kind ?? 'test'}-${process.pid}`)
  const webhook = opts.webhook ?? {}
  const started = Date.now()
  // The reaper first: if anything below hangs and tap kills us, the cluster still goes away.
  await mkdir(join(stateDir, 'logs'), { recursive: true })
  const reaperArgv = [NODE_BIN, join(REPO_ROOT, 'scripts', 'cluster', 'reaper.ts'), String(process.pid), (await procStartTime(process.pid)) ?? '', stateDir]
  const reaper = await spawnDaemon(reaperArgv, join(stateDir, 'logs'), 'reaper', daemonEnv(), REPO_ROOT)
  let info: ClusterInfo
  try {
    info = await upCluster({ stateDir, log, webhook, ...(opts.nodes === true ? { nodes: true } : {}) })
  } catch (err) {
    await downCluster({ stateDir, log })
    await stopProcess('reaper', reaper, log)
    throw err
  }
  log(`cluster ready in ${((Date.now() - started) / 1000).toFixed(1)}s (state: ${stateDir})`)
  const admin = createKubeApi(info.admin)
  const webhookSpec = componentSpec('webhook', { paths: info.paths, ports: info.ports, pki: info.pki, webhook: { ...DEFAULT_WEBHOOK_RUN, ...webhook } })
  let counter = 0
  const kubeconfigs = new Map<string, string>()
  const cluster: TestCluster = {
    info,
    kubeconfig: info.paths.kubeconfig,
    api: admin,
    webhookSettings: parseWebhookConfig(webhookSpec.argv.slice(3), daemonEnv()).injection,
    kubectl: (args, opts = {}) => run(Binaries.kubectl, [`--kubeconfig=${opts.kubeconfig ?? info.paths.kubeconfig}`, ...args], { input: opts.input, timeoutMs: opts.timeoutMs }),
    async createNamespace(prefix, labels = {}) {
      const name = `${prefix}-${++counter}`
      await admin.call('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } })
      await waitFor(`ServiceAccount ${name}/default`, async () => {
        const res = await admin.raw('GET', `/api/v1/namespaces/${name}/serviceaccounts/default`)
        if (res.status !== 200) throw new Error(`HTTP ${res.status}`)
        return true
      }, { timeoutMs: 30_000, log })
      return name
    },
    async serviceAccountToken(namespace, name) {
      const res = await admin.call<{ status: { token: string } }>('POST', `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`, {
        apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 },
      })
      return res.status.token
    },
    async serviceAccountKubeconfig(namespace, name) {
      const key = `${namespace}/${name}`
      const existing = kubeconfigs.get(key)
      if (existing !== undefined) return existing
      const credentials: KubeCredentials = { server: info.admin.server, ca: info.admin.ca, token: await cluster.serviceAccountToken(namespace, name) }
      const path = join(info.paths.dir, `sa-${namespace}-${name}.kubeconfig`)
      await writeKubeconfig(path, credentials, { user: `${namespace}-${name}`, namespace, format: 'json' })
      kubeconfigs.set(key, path)
      return path
    },
    async startDaemon(name, argv, env = {}) {
      const record = await spawnDaemon(argv, info.paths.logs, name, daemonEnv(env))
      await recordExtraProcess({ stateDir, log }, name, record)
      return record
    },
    async stopDaemon(name, record) {
      log(`${name} (pid ${record.pid}): ${await stopProcess(name, record, log)}`)
      await recordExtraProcess({ stateDir, log }, name, undefined)
    },
    async tmpDir(prefix) {
      await mkdir(join(stateDir, 'tmp'), { recursive: true })
      return mkdtemp(join(stateDir, 'tmp', `${prefix}-`))
    },
    setWebhookRunning: (running) => setComponentRunning({ stateDir, log }, 'webhook', running),
    async stop(opts = {}) {
      admin.close()
      const state = await readState(info.paths.state)
      const records: Array<[string, ProcessRecord]> = [['reaper', reaper], ...(state === undefined ? [] : recordsToStop(state))]
      await downCluster({ stateDir, log })
      await stopProcess('reaper', reaper, log, 2000)
      if (opts.keepState !== true) await rm(stateDir, { recursive: true, force: true })
      else log(`kept ${stateDir} (logs in ${info.paths.logs})`)
      const left: string[] = []
      for (const [name, record] of records) if (await isOurs(record)) left.push(`${name} (pid ${record.pid})`)
      return left
    },
  }
  return cluster
}
