// `up` and `down` of the local cluster in a state directory. `up` is idempotent: a cluster whose
// recorded processes are all ours and healthy is reused as it is; anything less is stopped (only
// the processes we recorded) and started again on the same data, PKI and, where free, ports.
import { access, mkdir } from 'node:fs/promises'
import { componentSpec, DEFAULT_WEBHOOK_RUN, listenAddress, SERVICE_IP, type ComponentContext } from './components.ts'
import { freePort, portIsFree } from './health.ts'
import { createKubeApi, type KubeApi, type KubeCredentials } from './kube-api.ts'
import { writeKubeconfig } from './kubeconfig.ts'
import { registerNode } from './node-object.ts'
import { requireBinaries, statePaths, type StatePaths } from './paths.ts'
import { ensurePki, type ClusterPki } from './pki.ts'
import { daemonEnv, isOurs, spawnDaemon, stopProcess, type ProcessRecord } from './processes.ts'
import { acquireLock, COMPONENTS, readState, recordsToStop, writeState, type ClusterState, type Component, type Ports, type WebhookRun } from './state.ts'
import { waitFor, type Log } from './wait.ts'
import { buildWebhookConfiguration } from './webhook-configuration.ts'
import { inNetns } from './node/exec.ts'
import { ensureNodeNet, nodeNetFor, type NodeNet } from './node/net.ts'
import { stopNode, type NodeRecord } from './node/node-down.ts'
import { nodeHealthy, startNode } from './node/node-up.ts'
import { checkNodePrerequisites, NodePrerequisiteError } from './node/prerequisites.ts'

export interface UpOptions {
  readonly stateDir: string
  readonly log: Log
  /** How to run the webhook (default: from the working tree, no drain). */
  readonly webhook?: Partial<WebhookRun>
  /** A real node (kubelet, containerd, scheduler, kube-proxy, CoreDNS); everything then runs in its network namespace. */
  readonly nodes?: boolean
}

export interface ClusterInfo {
  readonly paths: StatePaths
  readonly ports: Ports
  readonly pki: ClusterPki
  readonly admin: KubeCredentials
  readonly webhookUrl: string
  /** True when an already running, healthy cluster was reused. */
  readonly reused: boolean
  /** Set when the cluster has a real node. */
  readonly net?: NodeNet
}

async function choosePorts(previous: Ports | undefined): Promise<Ports> {
  const pick = async (p: number | undefined) => (p !== undefined && (await portIsFree(p)) ? p : freePort())
  return {
    etcd: await pick(previous?.etcd),
    etcdPeer: await pick(previous?.etcdPeer),
    apiserver: await pick(previous?.apiserver),
    controllerManager: await pick(previous?.controllerManager),
    webhook: await pick(previous?.webhook),
  }
}

async function allHealthy(state: ClusterState, ctx: ComponentContext): Promise<boolean> {
  if ((state.node === undefined) !== (ctx.net === undefined)) return false
  for (const name of COMPONENTS) {
    const record = state.processes[name]
    const spec = componentSpec(name, ctx)
    // A recorded process started with other flags (another version of this script) is restarted.
    if (record === undefined || record.argv.join('\0') !== spec.argv.join('\0') || !(await isOurs(record))) return false
    if (!(await spec.healthy().catch(() => false))) return false
  }
  if (state.node !== undefined && ctx.net !== undefined) {
    return nodeHealthy(state.node.processes, { stateDir: ctx.paths.dir, logs: ctx.paths.logs, net: ctx.net, pki: ctx.pki, apiserver: `https://${ctx.net.address}:${ctx.ports.apiserver}` })
  }
  return true
}

export async function startComponent(name: Component, ctx: ComponentContext, log: Log): Promise<ProcessRecord> {
  const spec = componentSpec(name, ctx)
  const via = ctx.net === undefined ? [] : inNetns(ctx.net.netnsPath, [])
  const record = await spawnDaemon(spec.argv, ctx.paths.logs, name, daemonEnv(spec.env), spec.cwd, via)
  log(`started ${name} (pid ${record.pid}); log: ${record.log}`)
  try {
    await waitFor(spec.what, async () => {
      if (!(await isOurs(record))) throw new Error(`${name} exited; the end of ${record.log} tells why`)
      return spec.healthy()
    }, { timeoutMs: spec.timeoutMs, log, hint: `see ${record.log}` })
  } catch (err) {
    // Never leave an unhealthy, unrecorded process behind.
    await stopProcess(name, record, log)
    throw err
  }
  log(`${name} is healthy`)
  return record
}

export async function upCluster(opts: UpOptions): Promise<ClusterInfo> {
  const { log } = opts
  await requireBinaries(['etcd', 'apiserver', 'controllerManager', 'kubectl'])
  const paths = statePaths(opts.stateDir)
  await mkdir(paths.logs, { recursive: true })
  const unlock = await acquireLock(paths.lock, log)
  try {
    const previous = await readState(paths.state)
    const pki = await ensurePki(paths.pki, SERVICE_IP, nodeNetFor(paths.dir).address)
    const webhook: WebhookRun = { ...DEFAULT_WEBHOOK_RUN, ...opts.webhook }
    const net = opts.nodes === true ? nodeNetFor(paths.dir) : undefined
    if (net !== undefined) {
      await checkNodePrerequisites()
      if (pki.node === undefined) throw new NodePrerequisiteError('ERR_NODE_PKI', `${paths.pki} was made before the real node existed and has no kubelet certificates: \`npm run cluster:down\`, remove ${paths.dir} and start again`)
    }
    if (previous !== undefined) {
      const ctx: ComponentContext = { paths, ports: previous.ports, pki, webhook, net }
      if (await allHealthy(previous, ctx)) {
        log(`cluster in ${paths.dir} is already running and healthy; reusing it`)
        const cluster = info(paths, previous.ports, pki, true, net)
        await withApi(cluster, (api) => configureCluster(api, cluster, log))
        return cluster
      }
      log(`cluster in ${paths.dir} is not fully running; stopping what is left of it and starting again`)
      await stopRecorded(previous, paths.dir, log)
    }
    // Inside a fresh network namespace every port is free; the host's free ones are used anyway.
    const ports = await choosePorts(previous?.ports)
    const ctx: ComponentContext = { paths, ports, pki, webhook, net }
    const processes: Partial<Record<Component, ProcessRecord>> = {}
    let node: NodeRecord | undefined
    if (net !== undefined) {
      const created = []
      for (const dir of ['/run/containerd', '/var/lib/cni']) if (!(await access(dir).then(() => true, () => false))) created.push(dir)
      node = { net, processes: {}, created: previous?.node?.created ?? created }
      await writeState(paths.state, { version: 1, ports, processes, webhook, node })
      await ensureNodeNet(net, paths.dir)
      log(`network namespace ${net.netns}: node address ${net.address}, host end ${net.hostAddress}, no route out`)
    }
    const save = () => writeState(paths.state, { version: 1, ports, processes, webhook, ...(node === undefined ? {} : { node }) })
    const cluster = info(paths, ports, pki, false, net)
    await writeKubeconfig(paths.controllerManagerKubeconfig, { ...cluster.admin, cert: pki.controllerManager.cert, key: pki.controllerManager.key }, { user: 'kube-controller-manager' })
    await writeKubeconfig(paths.kubeconfig, cluster.admin)
    for (const name of ['etcd', 'kube-apiserver'] as const) {
      processes[name] = await startComponent(name, ctx, log)
      await save()
    }
    const [kcm, webhookProcess] = await Promise.allSettled([startComponent('kube-controller-manager', ctx, log), startComponent('webhook', ctx, log)])
    if (kcm.status === 'fulfilled') processes['kube-controller-manager'] = kcm.value
    if (webhookProcess.status === 'fulfilled') processes.webhook = webhookProcess.value
    await save()
    for (const r of [kcm, webhookProcess]) if (r.status === 'rejected') throw r.reason
    await withApi(cluster, (api) => configureCluster(api, cluster, log))
    if (net !== undefined && node !== undefined) {
      const base = node
      await withApi(cluster, (api) =>
        startNode({ stateDir: paths.dir, logs: paths.logs, net, pki, apiserver: cluster.admin.server, log }, api, async (nodeProcesses) => {
          node = { ...base, processes: { ...nodeProcesses } }
          await save()
        }),
      )
    }
    return cluster
  } finally {
    await unlock()
  }
}

async function withApi<T>(cluster: ClusterInfo, fn: (api: KubeApi) => Promise<T>): Promise<T> {
  const api = createKubeApi(cluster.admin)
  try {
    return await fn(api)
  } finally {
    api.close()
  }
}

function info(paths: StatePaths, ports: Ports, pki: ClusterPki, reused: boolean, net?: NodeNet): ClusterInfo {
  const host = listenAddress({ net })
  return {
    paths,
    ports,
    pki,
    admin: { server: `https://${host}:${ports.apiserver}`, ca: pki.caCert, cert: pki.admin.cert, key: pki.admin.key },
    webhookUrl: `https://${host}:${ports.webhook}/mutate`,
    reused,
    ...(net === undefined ? {} : { net }),
  }
}

/** The Node, the webhook registration, and proof that the controllers work (a `default` ServiceAccount). */
async function configureCluster(api: KubeApi, cluster: ClusterInfo, log: Log): Promise<void> {
  // With a real node its kubelet registers the Node; a hand-written one would draw pods that never run.
  if (cluster.net === undefined) {
    await registerNode(api)
    log('registered Node cti-node (Ready, untainted)')
  }
  const mwc = buildWebhookConfiguration({ client: { url: cluster.webhookUrl, caBundlePem: cluster.pki.caCert } })
  await api.apply('/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/contour-tls-injector', mwc)
  log(`registered MutatingWebhookConfiguration contour-tls-injector -> ${cluster.webhookUrl}`)
  await waitFor('the controllers to create ServiceAccount default/default', async () => {
    const res = await api.raw('GET', '/api/v1/namespaces/default/serviceaccounts/default')
    if (res.status !== 200) throw new Error(`HTTP ${res.status}`)
    return true
  }, { timeoutMs: 60_000, log, hint: `see ${cluster.paths.logs}/kube-controller-manager.log` })
}

async function stopRecorded(state: ClusterState, stateDir: string, log: Log): Promise<number> {
  let stopped = state.node === undefined ? 0 : await stopNode(stateDir, state.node, log)
  for (const [name, record] of recordsToStop(state)) {
    const result = await stopProcess(name, record, log)
    log(`${name} (pid ${record.pid}): ${result}`)
    if (result !== 'not-running') stopped++
  }
  return stopped
}

/** Stops every process recorded in the state directory (verified by argv and start time), nothing else. */
export async function downCluster(opts: { stateDir: string; log: Log }): Promise<number> {
  const paths = statePaths(opts.stateDir)
  if ((await readState(paths.state)) === undefined) {
    opts.log(`no cluster state in ${paths.dir}; nothing to stop`)
    return 0
  }
  const unlock = await acquireLock(paths.lock, opts.log)
  try {
    const state = await readState(paths.state)
    if (state === undefined) return 0
    const stopped = await stopRecorded(state, paths.dir, opts.log)
    const { node: _node, ...rest } = state
    await writeState(paths.state, { ...rest, processes: {}, extras: {} })
    return stopped
  } finally {
    await unlock()
  }
}

/** Stops or starts one recorded component (the e2e suite stops the webhook to test failurePolicy). */
export async function setComponentRunning(opts: { stateDir: string; log: Log }, name: Component, running: boolean): Promise<void> {
  const paths = statePaths(opts.stateDir)
  const unlock = await acquireLock(paths.lock, opts.log)
  try {
    const state = await readState(paths.state)
    if (state === undefined) throw new Error(`no cluster state in ${paths.dir}`)
    const record = state.processes[name]
    const processes = { ...state.processes }
    if (!running) {
      if (record !== undefined) opts.log(`${name} (pid ${record.pid}): ${await stopProcess(name, record, opts.log)}`)
      delete processes[name]
    } else if (record === undefined || !(await isOurs(record))) {
      const pki = await ensurePki(paths.pki, SERVICE_IP, nodeNetFor(paths.dir).address)
      const net = state.node?.net
      processes[name] = await startComponent(name, { paths, ports: state.ports, pki, webhook: state.webhook ?? DEFAULT_WEBHOOK_RUN, ...(net === undefined ? {} : { net }) }, opts.log)
    }
    await writeState(paths.state, { ...state, processes })
  } finally {
    await unlock()
  }
}

/** Records (or, with undefined, forgets) another daemon, so `down` and the test reaper stop it too. */
export async function recordExtraProcess(opts: { stateDir: string; log: Log }, name: string, record: ProcessRecord | undefined): Promise<void> {
  const paths = statePaths(opts.stateDir)
  const unlock = await acquireLock(paths.lock, opts.log)
  try {
    const state = await readState(paths.state)
    if (state === undefined) throw new Error(`no cluster state in ${paths.dir}`)
    const extras = { ...state.extras }
    if (record === undefined) delete extras[name]
    else extras[name] = record
    await writeState(paths.state, { ...state, extras })
  } finally {
    await unlock()
  }
}
