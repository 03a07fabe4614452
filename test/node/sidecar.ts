// Sidecar mode on the real node: a v1.33.6 Contour pod as the webhook injects it with
// bootstrapMode sidecar (the injection engine itself, applied here: this cluster's webhook runs in
// init mode; admission by a sidecar-mode webhook is the e2e suite's 5b), in an unlabelled
// namespace under Pod Security "restricted". The kubelet holds `contour` back until
// bootstrap-tls's exec startup probe (`bootstrap-tls --probe` in the product image, no shell)
// passes, keeps the sidecar running beside it, and restarts it when it is killed (SIGKILL through
// the node's containerd) while `contour` keeps running untouched.
import { readFile } from 'node:fs/promises'
import type { V1ContainerStatus, V1Pod } from '@kubernetes/client-node'
import jsonpatch from 'fast-json-patch'
import type { Test } from 'tap'
import { runCommand } from '../../scripts/cluster/node/exec.ts'
import { nodePaths } from '../../scripts/cluster/node/config-files.ts'
import { Binaries } from '../../scripts/cluster/paths.ts'
import { waitFor, type Log } from '../../scripts/cluster/wait.ts'
import { injectPod } from '../../src/core/injection/inject-pod.ts'
import { INIT_CONTAINER_NAME } from '../../src/core/injection/types.ts'
import type { TestCluster } from '../helpers/cluster.ts'
import { contourPod } from '../e2e/injection.ts'
import { createContourNamespace } from '../e2e/secrets.ts'
import { localImage, RESTRICTED_CONTAINER } from './workloads.ts'

const RESTRICTED = { 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/enforce-version': 'latest' }

const statusOf = (pod: V1Pod, name: string): V1ContainerStatus | undefined => [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])].find((s) => s.name === name)

export async function testSidecarOnNode(t: Test, c: TestCluster, log: Log): Promise<void> {
  // contour serve exits without its CRDs; the quickstart later applies the same ones again.
  const crds = await c.kubectl(['apply', '-f', Binaries.contourCrds], { timeoutMs: 120_000 })
  t.equal(crds.code, 0, 'Contour\'s CRDs applied', { stderr: crds.stderr })
  const established = await c.kubectl(['wait', '--for=condition=Established', '--timeout=60s', '-f', Binaries.contourCrds], { timeoutMs: 90_000 })
  t.equal(established.code, 0, 'and established', { stderr: established.stderr })
  const ns = await createContourNamespace(c, 'node-sidecar', RESTRICTED)
  const base = `/api/v1/namespaces/${ns.namespace}`
  await c.api.call('POST', `${base}/configmaps`, { metadata: { name: 'contour' }, data: { 'contour.yaml': '' } })
  const contourImage = await localImage('localhost/cti-contour')
  const input = contourPod(ns.namespace) as unknown as V1Pod
  for (const container of input.spec?.containers ?? []) {
    container.image = contourImage
    container.securityContext = RESTRICTED_CONTAINER
  }
  const injected = injectPod(input, { ...c.webhookSettings, bootstrapMode: 'sidecar' })
  if (injected.outcome !== 'injected') return void t.fail(`not injected: ${injected.reason}`)
  const pod = jsonpatch.applyPatch(structuredClone(input), injected.patch, true, false).newDocument
  const name = pod.metadata?.name ?? ''
  await c.api.call('POST', `${base}/pods`, pod)

  // Running, not Ready: this namespace has none of contour.yaml's cluster RBAC, so its xDS port
  // (the readiness probe) never opens; the quickstart below checks a Ready Contour.
  const ready = await waitFor('contour running beside the sidecar', async () => {
    const p = await c.api.call<V1Pod>('GET', `${base}/pods/${name}`)
    if (statusOf(p, 'contour')?.state?.running !== undefined && statusOf(p, INIT_CONTAINER_NAME)?.state?.running !== undefined) return p
    throw new Error(`${p.status?.phase ?? 'unknown'}: ${[...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])].map((s) => `${s.name} ${Object.keys(s.state ?? {}).join('')}${s.started === true ? ' started' : ''}`).join(', ')}`)
  }, { timeoutMs: 120_000, intervalMs: 250, log }).catch((err: Error) => err)
  if (ready instanceof Error) return void t.fail(ready.message)

  const sidecar = statusOf(ready, INIT_CONTAINER_NAME)
  const contour = statusOf(ready, 'contour')
  t.ok(sidecar?.state?.running, 'bootstrap-tls is running beside contour (a native sidecar, not a finished init container)')
  t.equal(sidecar?.started, true, 'its startup probe passed')
  // The gate, from the two containers' log timestamps (the CRI's, one clock, nanoseconds): the
  // probe can only pass once the files hold a set, so contour's first line comes after the line in
  // which the sidecar created that set. Without the gate contour would start with the sidecar,
  // before the Secrets existed.
  const logLines = async (container: string): Promise<Array<{ at: bigint; text: string }>> =>
    (await c.kubectl(['-n', ns.namespace, 'logs', '--timestamps', name, '-c', container])).stdout.split('\n').filter(Boolean).map((line) => {
      const [stamp = '', ...rest] = line.split(' ')
      return { at: nanoseconds(stamp), text: rest.join(' ') }
    })
  const sidecarLines = await logLines(INIT_CONTAINER_NAME)
  const created = sidecarLines.find((l) => /created a new set/.test(l.text))
  const contourFirst = (await logLines('contour'))[0]
  t.ok(created, 'the sidecar created the set with the projected token')
  const gap = Number((contourFirst?.at ?? 0n) - (created?.at ?? 0n)) / 1e9
  t.ok(contourFirst !== undefined && created !== undefined && gap > 0, `contour's first log line comes ${gap.toFixed(3)} s after the line in which the sidecar created the set: the startup probe held it back`)
  const sidecarLog = sidecarLines.map((l) => l.text).join('\n')
  t.match(sidecarLog, /sidecar: the set is in place; checking it again every/, 'and stayed as the sidecar loop')
  t.notMatch(sidecarLog, /PRIVATE KEY/, 'no key material in its log')

  // A crash of the sidecar: SIGKILL to its task through the node's containerd.
  const containerId = sidecar?.containerID?.replace(/^containerd:\/\//, '') ?? ''
  const net = c.info.net
  if (net === undefined) return void t.fail('no node network')
  const socket = nodePaths(c.info.paths.dir, net).containerdSocket
  // The sidecar's resident memory while it idles between passes, for the record.
  const tasks = await runCommand(['ctr', '--address', socket, '-n', 'k8s.io', 'tasks', 'ls'], 30_000)
  const pid = tasks.stdout.split('\n').find((line) => line.startsWith(containerId))?.split(/\s+/)[1]
  const rss = pid === undefined ? undefined : /VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8').catch(() => ''))?.[1]
  t.comment(`figure: the idle sidecar's RSS: ${rss === undefined ? 'not read' : `${(Number(rss) / 1024).toFixed(1)} MiB`}`)
  const killed = await runCommand(['ctr', '--address', socket, '-n', 'k8s.io', 'tasks', 'kill', '--signal', 'SIGKILL', containerId], 30_000)
  t.equal(killed.code, 0, 'killed the sidecar\'s task', { stderr: killed.stderr })
  const restarted = await waitFor('the kubelet to restart the sidecar', async () => {
    const p = await c.api.call<V1Pod>('GET', `${base}/pods/${name}`)
    const s = statusOf(p, INIT_CONTAINER_NAME)
    if ((s?.restartCount ?? 0) >= 1 && s?.state?.running !== undefined && s.started === true) return p
    throw new Error(`bootstrap-tls: restarts ${s?.restartCount ?? 0}, ${Object.keys(s?.state ?? {}).join('')}`)
  }, { timeoutMs: 90_000, intervalMs: 250, log }).catch((err: Error) => err)
  if (restarted instanceof Error) return void t.fail(restarted.message)
  const after = statusOf(restarted, INIT_CONTAINER_NAME)
  t.equal(after?.lastState?.terminated?.exitCode, 137, 'the last run ended by SIGKILL')
  t.ok(after?.state?.running, 'running again')
  const contourAfter = statusOf(restarted, 'contour')
  t.equal(contour?.restartCount, 0, 'contour had started once, after the probe')
  t.equal(contourAfter?.restartCount, 0, 'and was not restarted with the sidecar')
  t.equal(contourAfter?.containerID, contour?.containerID, 'the same contour container')
  t.ok(contourAfter?.state?.running, 'contour still running')
  const again = (await c.kubectl(['-n', ns.namespace, 'logs', name, '-c', INIT_CONTAINER_NAME])).stdout
  t.match(again, /using the existing set/, 'the restarted sidecar found the set valid: a restart never churns certificates')
}

/** An RFC 3339 timestamp with up to nanoseconds (the CRI's log format), as nanoseconds since the epoch. */
function nanoseconds(stamp: string): bigint {
  const match = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(stamp)
  if (match === null) return 0n
  return BigInt(Date.parse(`${match[1] ?? ''}Z`)) * 1_000_000n + BigInt((match[2] ?? '').padEnd(9, '0').slice(0, 9))
}
