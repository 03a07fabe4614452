// The real node: the cluster started with `--nodes` (containerd, kubelet, scheduler, kube-proxy,
// CoreDNS, all in a network namespace of its own) in its own state directory; pods run for real.
// Needs root and what scripts/test-prepare.sh installs; a failed start fails the suite, never skips it.
import { access, readFile, readdir } from 'node:fs/promises'
import t from 'tap'
import type { V1Pod } from '@kubernetes/client-node'
import { runCommand } from '../../scripts/cluster/node/exec.ts'
import { CNI_NETWORK } from '../../scripts/cluster/node/net.ts'
import { GLOBAL_SYSCTLS, readSysctls } from '../../scripts/cluster/node/sysctls.ts'
import { NODE_NAME } from '../../scripts/cluster/pki.ts'
import { waitFor } from '../../scripts/cluster/wait.ts'
import { Annotations, NAMESPACE_LABEL } from '../../src/core/injection/types.ts'
import { startClusterFor } from '../helpers/cluster.ts'
import { contourPod } from '../e2e/injection.ts'
import { createContourNamespace } from '../e2e/secrets.ts'
import { installChartOnNode, testFailurePolicyOnNode, webhookLogs } from './chart-on-node.ts'
import { createQuickstartNamespace, testContourQuickstart } from './contour-quickstart.ts'
import { grantContourServe, testRestrictedEnvoy } from './restricted-envoy.ts'
import { testRotationOnNode } from './rotation-on-node.ts'
import { bootstrapTlsStarted, busyboxPod, localImage, RESTRICTED_CONTAINER, waitForPhase } from './workloads.ts'

t.setTimeout(10 * 60_000)
const started = Date.now()
const log = (line: string) => process.stderr.write(`# node +${Math.round((Date.now() - started) / 1000)}s ${line}\n`)
const exists = (p: string) => access(p).then(() => true, () => false)

const sysctlsBefore = await readSysctls()
const runBefore = { cni: await exists('/var/lib/cni') }
const clusterRun = await startClusterFor(t, log, { nodes: true })
if (clusterRun !== undefined) {
  const { cluster: c, stop } = clusterRun
  const net = c.info.net
  const busybox = await localImage('localhost/cti-busybox')
  const enabled = { [NAMESPACE_LABEL.key]: NAMESPACE_LABEL.value }
  const restricted = { 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/enforce-version': 'latest' }

  await t.test('the node is real: the kubelet registered it with its own identity', async (t) => {
    const node = await c.api.call<{ status?: { nodeInfo?: { kubeletVersion?: string; containerRuntimeVersion?: string }; addresses?: Array<{ address: string }> } }>('GET', `/api/v1/nodes/${NODE_NAME}`)
    t.match(node.status?.nodeInfo?.kubeletVersion, /^v1\.34\./, 'a kubelet v1.34 reports it')
    t.match(node.status?.nodeInfo?.containerRuntimeVersion, /^containerd:\/\//, 'containerd runs its pods')
    t.same(node.status?.addresses?.[0]?.address, net?.address, 'its address is inside the namespace')
    const nodes = await c.api.call<{ items: unknown[] }>('GET', '/api/v1/nodes')
    t.equal(nodes.items.length, 1, 'no hand-written Node beside it')
    const routes = await runCommand(['nsenter', `--net=${net?.netnsPath ?? ''}`, '--', 'ip', 'route', 'show', 'default'])
    t.equal(routes.stdout.trim(), '', 'the namespace has no default route: no packet can leave')
  })

  await t.test('a pod in a labelled, restricted namespace runs; logs and exec go through the kubelet', async (t) => {
    const ns = await c.createNamespace('node-pod', { ...enabled, ...restricted })
    await c.api.call('POST', `/api/v1/namespaces/${ns}/pods`, busyboxPod('hello', busybox, 'echo hello from the node; exec sleep 3600'))
    const pod = await waitForPhase(c.api, ns, 'hello', ['Running'], log)
    t.equal(pod.spec?.nodeName, NODE_NAME, 'scheduled on the node by kube-scheduler')
    await waitFor('the log line', async () => ((await c.kubectl(['-n', ns, 'logs', 'hello'])).stdout.includes('hello from the node') ? true : undefined), { timeoutMs: 30_000, log })
    t.pass('kubectl logs (apiserver to kubelet with its client certificate)')
    const id = await c.kubectl(['-n', ns, 'exec', 'hello', '--', 'id', '-u'])
    t.equal(id.stdout.trim(), '65534', 'kubectl exec: the restricted securityContext is in force', { stderr: id.stderr })
  })

  await t.test('a Deployment rolls out', async (t) => {
    const ns = await c.createNamespace('node-deploy')
    const template = busyboxPod('web', busybox, 'mkdir -p /tmp/www && echo hello-from-$(hostname) > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www')
    await c.api.call('POST', `/apis/apps/v1/namespaces/${ns}/deployments`, {
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' },
      spec: { replicas: 2, selector: { matchLabels: { app: 'web' } }, template: { metadata: (template as { metadata: unknown }).metadata, spec: (template as { spec: unknown }).spec } },
    })
    const rollout = await c.kubectl(['-n', ns, 'rollout', 'status', 'deployment/web', '--timeout=120s'], { timeoutMs: 150_000 })
    t.equal(rollout.code, 0, `rollout: ${rollout.stdout.trim().split('\n').at(-1) ?? ''}`, { stderr: rollout.stderr })

    await t.test('a pod resolves the Service through CoreDNS and reaches the pods behind it', async (t) => {
      await c.api.call('POST', `/api/v1/namespaces/${ns}/services`, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] } })
      const fqdn = `web.${ns}.svc.cluster.local`
      // busybox's own resolver (nslookup) asks CoreDNS; wget gets the address (static busybox's libc
      // lookup of names through the search list crashed here, and so did its wget -T).
      const script = `ip=$(nslookup ${fqdn} | sed -n 's/^Address: //p') && echo "resolved $ip" && wget -qO- "http://$ip/" && if nslookup example.com; then exit 1; else echo no-outside-names; fi`
      await c.api.call('POST', `/api/v1/namespaces/${ns}/pods`, busyboxPod('client', busybox, script, { restartPolicy: 'Never' }))
      const pod = await waitForPhase(c.api, ns, 'client', ['Succeeded', 'Failed'], log)
      const out = (await c.kubectl(['-n', ns, 'logs', 'client'])).stdout
      t.equal(pod.status?.phase, 'Succeeded', 'the client pod succeeded', { out })
      t.match(out, /resolved 10\.96\.\d+\.\d+/, 'CoreDNS answered the Service name with its ClusterIP')
      t.match(out, /hello-from-web-/, 'kube-proxy took the request to a pod of the Deployment')
      t.match(out, /no-outside-names/, 'names outside cluster.local do not resolve (nothing is forwarded)')
    })
  })

  await t.test('the chart installed with helm install runs its webhook on the node; the apiserver calls it through its Service', async (t) => {
    // The quickstart's namespace first: the chart puts its Role for Contour's service account there.
    await createQuickstartNamespace(c)
    await installChartOnNode(t, c, log)
  })

  await t.test('under Pod Security "restricted" upstream Contour and Envoy pods are injected by the chart\'s webhook and run: bootstrap-tls with the projected token, the Envoy pod Ready', async (t) => {
    const ns = await createContourNamespace(c, 'node-contour', { ...enabled, ...restricted })
    // So that contour serve serves xDS to the Envoy pod below: Contour's CRDs and its upstream RBAC.
    t.teardown(await grantContourServe(c, ns.namespace, log))
    // The upstream Deployment mounts its ConfigMap (an empty configuration is valid).
    await c.api.call('POST', `/api/v1/namespaces/${ns.namespace}/configmaps`, { metadata: { name: 'contour' }, data: { 'contour.yaml': '' } })
    const contourImage = await localImage('localhost/cti-contour')
    const pod = contourPod(ns.namespace) as unknown as V1Pod
    for (const container of pod.spec?.containers ?? []) {
      container.image = contourImage
      container.securityContext = RESTRICTED_CONTAINER
    }
    const name = pod.metadata?.name ?? ''
    const created = await c.api.call<V1Pod>('POST', `/api/v1/namespaces/${ns.namespace}/pods`, pod)
    t.match(created.metadata?.annotations?.[Annotations.status], /^injected/, 'admitted and injected')
    const admitted = await waitFor('the chart\'s webhook to log the admission', async () => ((await webhookLogs(c)).split('\n').find((l) => l.includes(`"namespace":"${ns.namespace}"`) && l.includes('"msg":"injected"'))), { timeoutMs: 30_000, log })
    t.ok(admitted, 'injected by the chart\'s webhook on the node (the loopback one is stopped)')
    const running = await waitForPhase(c.api, ns.namespace, name, ['Running'], log, 120_000)
    const started = bootstrapTlsStarted(running)
    t.ok(started.ok, `bootstrap-tls is done starting, as ${started.how} (the kubelet filled the optional Secret volumes)`)
    for (const secret of ['contour-tls', 'envoy-tls', 'contour-ca']) {
      t.equal((await c.api.raw('GET', `/api/v1/namespaces/${ns.namespace}/secrets/${secret}`)).status, 200, `Secret ${secret} created`)
    }
    const initLog = await c.kubectl(['-n', ns.namespace, 'logs', name, '-c', 'bootstrap-tls'])
    t.notMatch(initLog.stdout, /PRIVATE KEY/, 'no key material in the log')
    const images = { contour: contourImage, envoy: await localImage('localhost/cti-envoy-standin') }
    await t.test('the upstream Envoy pod (restricted securityContext, hostPorts dropped) runs beside it: the stand-in completes xDS over mutual TLS 1.3, the pod is Ready', (t) => testRestrictedEnvoy(t, c, ns.namespace, images, log))
  })

  await t.test('sidecar mode: contour waits for the startup probe, the sidecar stays and is restarted alone', async (t) => (await import('./sidecar.ts')).testSidecarOnNode(t, c, log))
  await t.test('the upstream contour.yaml as it ships (images retagged), injected by the chart\'s webhook: Contour pods Ready, the Envoy pod Ready with the Envoy stand-in completing xDS over mutual TLS 1.3', async (t) => {
    await testContourQuickstart(t, c, { contour: await localImage('localhost/cti-contour'), envoy: await localImage('localhost/cti-envoy-standin') }, log, { rbac: 'chart' })
  })

  await t.test('a rotation requested while the quickstart runs (the real kubelet propagating, bootstrap-tls once a second as the sidecar): the stand-in reconnecting every 500 ms has 0 failed attempts and ends on the new client and server certificates', async (t) => testRotationOnNode(t, c, { contour: await localImage('localhost/cti-contour'), envoy: await localImage('localhost/cti-envoy-standin') }, log))

  await t.test('failure policy: with the chart\'s webhook scaled to zero a Contour pod in an enabled namespace is refused; scaled back, admitted', async (t) => {
    const ns = await c.createNamespace('node-fail', enabled)
    await testFailurePolicyOnNode(t, c, ns, log)
  })

  await t.test('down leaves nothing behind', async (t) => {
    const netns = net?.netns ?? ''
    t.same(await stop(), [], 'every process stopped')
    t.notOk(await exists(`/run/netns/${netns}`), `network namespace ${netns} removed`)
    t.equal((await runCommand(['ip', 'link', 'show', net?.hostVeth ?? ''])).code === 0, false, 'veth removed')
    const cgroups = (await readdir('/sys/fs/cgroup')).map((h) => `/sys/fs/cgroup/${h}/${netns}`)
    for (const cg of cgroups) t.notOk(await exists(cg), `${cg} removed`)
    t.notOk(await exists('/run/containerd'), '/run/containerd removed (no containerd runs)')
    if (!runBefore.cni) t.notOk(await exists('/var/lib/cni'), '/var/lib/cni removed (up created it)')
    const cniCache = await readdir('/var/lib/cni/results').catch(() => [] as string[])
    t.same(cniCache.filter((f) => f.startsWith(`${CNI_NETWORK}-`)), [], 'no CNI cache entries of the node\'s network')
    const mounts = await readFile('/proc/self/mounts', 'utf8')
    t.notMatch(mounts, new RegExp(c.info.paths.dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), 'no mounts under the state directory')
    const after = await readSysctls()
    for (const name of GLOBAL_SYSCTLS) t.equal(after[name], sysctlsBefore[name], `${name} restored`)
  })
}
