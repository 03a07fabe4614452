// A requested rotation on the real node while everything runs: the upstream v1.33.6 contour.yaml
// (images retagged) in `projectcontour` with the chart's Role for Contour's service account, two
// real `contour serve` pods (they read their files on every handshake) and the Envoy pod's
// stand-in reconnecting every 500 ms with mutual TLS 1.3 (it reloads its files on the kubelet's
// ..data swap). The test annotates `contour-ca` with a rotate token and plays the Contour pod's
// sidecar: `bootstrap-tls --role=contour --secrets-only` in process once a second, as Contour's
// service account. The REAL kubelet carries every step into the pods' files (no nudging). The
// stand-in's own log then has to show 0 failed attempts from the request on, and the new Envoy
// client certificate and the new Contour server certificate in its exchanges.
import { X509Certificate } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { V1Pod, V1Secret } from '@kubernetes/client-node'
import type { Test } from 'tap'
import { nodePaths } from '../../scripts/cluster/node/config-files.ts'
import { waitFor, type Log } from '../../scripts/cluster/wait.ts'
import { runBootstrapTls } from '../../src/bootstrap/main.ts'
import { RequestAnnotations, SecretAnnotations } from '../../src/bootstrap/secret-model.ts'
import { splitCertificates } from '../../src/core/certs/pem-bundle.ts'
import { recordingIO } from '../bootstrap/fake-io.ts'
import { CHART_DIR, helm } from '../chart/helm.ts'
import type { TestCluster } from '../helpers/cluster.ts'
import { createQuickstartNamespace, writeRetaggedManifest } from './contour-quickstart.ts'
import { failedAttempts, parseExchanges, shortFingerprint } from './envoy-standin.ts'

const NAMESPACE = 'projectcontour'
/**
 * Above what the kubelet needs here to carry a Secret change into a running pod's files: with
 * syncFrequency 5 s that measured 5-8 s (figure below, and asserted below the delay on every run);
 * 20 s leaves more than twice that, so a slow sync on these shared 2 cores cannot make the switch
 * overtake the trust it relies on. The production default (5 m) is for the default 1 m sync.
 */
const PROPAGATION_DELAY_S = 20
const TOKEN = `node-rotation-${Date.now()}`

const isReady = (pod: V1Pod) => pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true
const unb64 = (s: string | undefined) => Buffer.from(s ?? '', 'base64').toString('utf8')
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`

async function listPods(c: TestCluster, app: string): Promise<V1Pod[]> {
  return (await c.api.call<{ items: V1Pod[] }>('GET', `/api/v1/namespaces/${NAMESPACE}/pods?labelSelector=app%3D${app}`)).items
}
const getSecret = (c: TestCluster, name: string) => c.api.call<V1Secret>('GET', `/api/v1/namespaces/${NAMESPACE}/secrets/${name}`)

/** A pod's Secret-volume file where the kubelet keeps it on the node's disk (through its ..data link). */
function mountedPath(c: TestCluster, pod: V1Pod, secretName: string, key: string): string {
  const volume = pod.spec?.volumes?.find((v) => v.secret?.secretName === secretName)
  if (c.info.net === undefined || volume === undefined) throw new Error(`no volume of ${secretName} in ${pod.metadata?.name ?? ''}`)
  return join(nodePaths(c.info.paths.dir, c.info.net).kubeletRoot, 'pods', pod.metadata?.uid ?? '', 'volumes', 'kubernetes.io~secret', volume.name, key)
}

/** Stand-in log lines stamped at or after `sinceMs` (it stamps each line itself, UTC, ms). */
function linesSince(text: string, sinceMs: number): string[] {
  return text.split('\n').filter((l) => {
    const at = Date.parse(l.slice(0, 24))
    return Number.isFinite(at) && at >= sinceMs
  })
}
const stampOf = (line: string | undefined) => (line === undefined ? undefined : Date.parse(line.slice(0, 24)))
const SERVER_FP = /server_cert_sha256=(\w+)\s*$/

/** Watches the given mounted files every 200 ms and records when each content was first seen. */
function watchMounts(files: ReadonlyArray<{ label: string; path: string }>) {
  const seen = new Map<string, Map<string, number>>(files.map((f) => [f.label, new Map()]))
  let stop = false
  const done = (async () => {
    while (!stop) {
      for (const f of files) {
        const content = await readFile(f.path, 'utf8').catch(() => undefined)
        const m = seen.get(f.label)
        if (content !== undefined && m !== undefined && !m.has(content)) m.set(content, Date.now())
      }
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
  })()
  return {
    /** When `label`'s file first held content satisfying `pred`. */
    firstSeen: (label: string, pred: (content: string) => boolean) => [...(seen.get(label) ?? new Map<string, number>())].filter(([c]) => pred(c)).map(([, at]) => at).sort((a, b) => a - b)[0],
    stop: async () => {
      stop = true
      await done
    },
  }
}

export async function testRotationOnNode(t: Test, c: TestCluster, images: { contour: string; envoy: string }, log: Log): Promise<void> {
  const file = await writeRetaggedManifest(await c.tmpDir('rotation-quickstart'), images)
  await createQuickstartNamespace(c)
  try {
    // The chart's own Role and RoleBinding for Contour's service account (`helm template` of the
    // installed chart's rbac-targets.yaml, default values): the quickstart test deleted the
    // namespace, and with it what `helm install` had put there.
    const rendered = await helm(['template', 'contour-tls-injector', CHART_DIR, '--namespace', 'cti-system', '--show-only', 'templates/rbac-targets.yaml'])
    t.equal(rendered.code, 0, 'helm template renders the chart\'s Role for Contour\'s service account', { stderr: rendered.stderr })
    const rbac = await c.kubectl(['apply', '-f', '-'], { input: rendered.stdout })
    t.equal(rbac.code, 0, 'the chart\'s Role and RoleBinding applied in projectcontour', { stderr: rbac.stderr })
    const applied = await c.kubectl(['apply', '-f', file], { timeoutMs: 120_000 })
    t.equal(applied.code, 0, 'kubectl apply -f contour.yaml (images retagged)', { stderr: applied.stderr })
    const contour = await waitFor('2 Contour pods Ready', async () => {
      const pods = await listPods(c, 'contour')
      return pods.length === 2 && pods.every(isReady) ? pods : undefined
    }, { timeoutMs: 240_000, intervalMs: 250, log })
    const envoy = await waitFor('the Envoy pod Ready', async () => {
      const pod = (await listPods(c, 'envoy'))[0]
      return pod !== undefined && isReady(pod) ? pod : undefined
    }, { timeoutMs: 120_000, intervalMs: 250, log })
    const envoyName = envoy.metadata?.name ?? ''
    const standinLog = async () => (await c.kubectl(['-n', NAMESPACE, 'logs', envoyName, '-c', 'envoy'])).stdout
    await waitFor('the stand-in\'s xDS exchanges', async () => (parseExchanges(await standinLog()).length >= 3 ? true : undefined), { timeoutMs: 30_000, log })
    t.pass(`quickstart running: ${contour.map((p) => p.metadata?.name ?? '').join(', ')} and ${envoyName}, the stand-in exchanging xDS`)

    const kubeconfig = await c.serviceAccountKubeconfig(NAMESPACE, 'contour')
    const steps: Array<{ at: number; text: string }> = []
    let lastOut = ''
    const sidecar = async (): Promise<void> => {
      const io = recordingIO({})
      const code = await runBootstrapTls(['--role=contour', '--secrets-only', `--kubeconfig=${kubeconfig}`, `--namespace=${NAMESPACE}`, `--propagation-delay=${PROPAGATION_DELAY_S}s`, '--wait-timeout=20s'], io, {})
      if (code !== 0) throw new Error(`bootstrap-tls exited ${code}: ${io.err()}`)
      lastOut = io.err()
      for (const m of io.err().matchAll(/^bootstrap-tls: (trusting a next CA|switching both leaves|dropping expired CAs|writing a new set)[^:]*: ([^(\n]*)/gm)) steps.push({ at: Date.now(), text: `${m[1] ?? ''}: ${m[2]?.trim() ?? ''}` })
    }
    const tick = () => new Promise((resolve) => setTimeout(resolve, 1000))

    // Settle first: a round already staged (the take-over of certgen's set) finishes, and the
    // kubelet is given a propagation bound, so that the rotation starts from a stable set.
    const settleStarted = Date.now()
    for (;;) {
      await sidecar()
      const staged = /phase trusting/.test(lastOut)
      const lastStep = steps.at(-1)?.at ?? 0
      if (!staged && Date.now() - lastStep > PROPAGATION_DELAY_S * 1000) break
      if (Date.now() - settleStarted > 120_000) throw new Error(`the set did not settle: ${lastOut}`)
      await tick()
    }
    t.comment(`before the rotation (settled in ${secs(Date.now() - settleStarted)}${steps.length > 0 ? `, steps: ${steps.map((s) => s.text).join('; ')}` : ''}): ${/^bootstrap-tls: (using the existing set.*)$/m.exec(lastOut)?.[1] ?? lastOut.trim()}`)
    const settledSteps = steps.length
    const before = { contour: unb64((await getSecret(c, 'contour-tls')).data?.['tls.crt']), envoy: unb64((await getSecret(c, 'envoy-tls')).data?.['tls.crt']) }

    // What each pod's files hold, on the node's disk, sampled every 200 ms.
    const mounts = watchMounts([
      ...contour.flatMap((p) => [
        { label: `${p.metadata?.name ?? ''} ca.crt`, path: mountedPath(c, p, 'contour-ca', 'ca.crt') },
        { label: `${p.metadata?.name ?? ''} tls.crt`, path: mountedPath(c, p, 'contour-tls', 'tls.crt') },
      ]),
      { label: `${envoyName} ca.crt`, path: mountedPath(c, envoy, 'contour-ca', 'ca.crt') },
      { label: `${envoyName} tls.crt`, path: mountedPath(c, envoy, 'envoy-tls', 'tls.crt') },
    ])
    let requestedAt = 0
    let switchAt: number | undefined
    let addTrustAt: number | undefined
    try {
      // The rotation, asked for as the README says: an annotation on the CA Secret.
      requestedAt = Date.now()
      const annotated = await c.kubectl(['-n', NAMESPACE, 'annotate', 'secret', 'contour-ca', `${RequestAnnotations.rotate}=${TOKEN}`])
      t.equal(annotated.code, 0, `kubectl annotate secret contour-ca ${RequestAnnotations.rotate}=${TOKEN}`, { stderr: annotated.stderr })
      // The sidecar, once a second, until the switch is done and one more propagation bound has passed.
      for (;;) {
        const runStarted = Date.now()
        await sidecar()
        const step = steps.slice(settledSteps).at(-1)
        if (step !== undefined && addTrustAt === undefined && step.text.startsWith('trusting')) addTrustAt = runStarted
        if (step !== undefined && switchAt === undefined && step.text.startsWith('switching')) switchAt = runStarted
        if (switchAt !== undefined && Date.now() - switchAt > PROPAGATION_DELAY_S * 1000) break
        if (Date.now() - requestedAt > 150_000) break
        await tick()
      }
    } finally {
      await mounts.stop()
    }
    const endedAt = Date.now()
    const rotationSteps = steps.slice(settledSteps)
    t.comment(`bootstrap-tls steps after the request: ${rotationSteps.map((s) => `+${secs(s.at - requestedAt)} ${s.text}`).join('; ')}`)
    t.ok(rotationSteps.some((s) => /^trusting a next CA.*: rotation requested/.test(s.text)), 'the request started a round: a next CA trusted everywhere, next leaves staged')
    t.ok(switchAt !== undefined, 'a propagation delay later both leaves switched to the next CA')
    if (addTrustAt === undefined || switchAt === undefined) return

    const after = { ca: getSecret(c, 'contour-ca'), contour: getSecret(c, 'contour-tls'), envoy: getSecret(c, 'envoy-tls') }
    const caSecret = await after.ca
    const newContour = unb64((await after.contour).data?.['tls.crt'])
    const newEnvoy = unb64((await after.envoy).data?.['tls.crt'])
    const bundle = splitCertificates(unb64(caSecret.data?.['ca.crt']))
    t.not(newContour, before.contour, 'contour-tls holds a new tls.crt')
    t.not(newEnvoy, before.envoy, 'envoy-tls holds a new tls.crt')
    t.ok(new X509Certificate(newContour).verify(new X509Certificate(bundle[0] ?? '').publicKey), 'the new leaves are signed by the CA now first in ca.crt')
    t.ok(bundle.length >= 2 && bundle.slice(1).some((ca) => new X509Certificate(before.contour).verify(new X509Certificate(ca).publicKey)), 'the previous CA is still trusted (the overlap)')
    t.equal(caSecret.metadata?.annotations?.[SecretAnnotations.rotateToken], TOKEN, 'the token is recorded as honoured')

    // The real kubelet's propagation, as the node's disk shows it.
    const nextCa = bundle[0] ?? ''
    const propagation: Record<string, { trust?: number; leaf?: number }> = {}
    for (const p of [...contour, envoy]) {
      const name = p.metadata?.name ?? ''
      const newLeaf = p === envoy ? newEnvoy : newContour
      const trust = mounts.firstSeen(`${name} ca.crt`, (text) => splitCertificates(text).includes(nextCa))
      const leaf = mounts.firstSeen(`${name} tls.crt`, (text) => text === newLeaf)
      propagation[name] = { trust: trust === undefined ? undefined : trust - addTrustAt, leaf: leaf === undefined ? undefined : leaf - switchAt }
    }
    const describeProp = (k: 'trust' | 'leaf') => Object.entries(propagation).map(([n, v]) => `${n} ${v[k] === undefined ? 'never' : secs(v[k])}`).join(', ')
    t.comment(`figure: the kubelet put the next CA into each pod's ca.crt after the add-trust write: ${describeProp('trust')}`)
    t.comment(`figure: the kubelet put the new leaf into each pod's tls.crt after the switch write: ${describeProp('leaf')}`)
    const worst = Math.max(...Object.values(propagation).flatMap((v) => [v.trust ?? Infinity, v.leaf ?? Infinity]))
    t.ok(worst < PROPAGATION_DELAY_S * 1000, `every pod's files followed each step within the propagation delay (${PROPAGATION_DELAY_S} s; worst ${secs(worst)})`, { propagation })

    // The stand-in's view, from its own log, only from the request on.
    const text = await standinLog()
    const lines = linesSince(text, requestedAt)
    const window = lines.join('\n')
    const exchanges = parseExchanges(window)
    const failures = [...failedAttempts(window), ...lines.filter((l) => /: attempt \d+: files: /.test(l))]
    const envoyFp = shortFingerprint(newEnvoy)
    const contourFp = shortFingerprint(newContour)
    const oldContourFp = shortFingerprint(before.contour)
    t.comment(`figure: during the rotation (${secs(endedAt - requestedAt)} from the request): ${exchanges.length + failures.length} attempts, ${failures.length} failed`)
    t.same(failures, [], `0 failed attempts from the request on (stand-in in ${envoyName})`)
    t.ok(exchanges.length >= (endedAt - requestedAt) / 1000, `it kept exchanging xDS throughout (${exchanges.length} exchanges ok)`)
    t.ok(exchanges.every((e) => e.tls === 'TLS 1.3' && e.serverCert === 'CN=contour' && e.serverSan === 'contour' && e.clientCert === 'CN=envoy'), 'every exchange mutual TLS 1.3, CN=contour with SAN contour, client CN=envoy')
    const reload = lines.find((l) => l.includes('files: files changed:') && l.includes(`sha256 ${envoyFp}`))
    t.ok(reload, `the stand-in reloaded its files on the kubelet's ..data swap and loaded the new client certificate (sha256 ${envoyFp})`)
    const firstClient = lines.find((l) => parseExchanges(l)[0]?.clientSha256 === envoyFp)
    const firstServer = lines.find((l) => parseExchanges(l).length === 1 && SERVER_FP.exec(l)?.[1] === contourFp)
    t.ok(firstClient, 'it presented the new Envoy client certificate (envoy-tls\'s new tls.crt) and Contour accepted it')
    t.ok(firstServer, `it saw the new Contour server certificate (contour-tls's new tls.crt, sha256 ${contourFp})`)
    t.ok(lines.some((l) => parseExchanges(l).length === 1 && SERVER_FP.exec(l)?.[1] === oldContourFp), `it saw the previous server certificate (sha256 ${oldContourFp}) after the request: the change happened under it`)
    const last = exchanges.at(-1)
    t.ok(last?.clientSha256 === envoyFp && SERVER_FP.exec(lines.filter((l) => parseExchanges(l).length === 1).at(-1) ?? '')?.[1] === contourFp, 'its latest exchange uses both new certificates')
    const clientAt = stampOf(firstClient)
    const serverAt = stampOf(firstServer)
    t.comment(`figure: from the switch write to the stand-in presenting the new client certificate: ${clientAt === undefined ? 'never' : secs(clientAt - switchAt)}; to it seeing the new server certificate: ${serverAt === undefined ? 'never' : secs(serverAt - switchAt)} (kubelet syncFrequency 5 s)`)

    // The real Contour pods rode it out: same pods, Running, nothing restarted.
    const now = await listPods(c, 'contour')
    for (const p of contour) {
      const cur = now.find((x) => x.metadata?.uid === p.metadata?.uid)
      const restarts = (cur?.status?.containerStatuses ?? []).map((s) => s.restartCount)
      t.ok(cur?.status?.phase === 'Running' && restarts.length > 0 && restarts.every((r) => r === 0), `${p.metadata?.name ?? ''}: still Running, 0 restarts`, { restarts })
    }
    const envoyNow = (await listPods(c, 'envoy')).find((x) => x.metadata?.uid === envoy.metadata?.uid)
    t.ok((envoyNow?.status?.containerStatuses ?? []).every((s) => s.restartCount === 0) && envoyNow !== undefined, `${envoyName}: the stand-in was not restarted`)
  } finally {
    await c.kubectl(['delete', '-f', file, '--ignore-not-found', '--wait=false'], { timeoutMs: 120_000 })
    await c.kubectl(['-n', NAMESPACE, 'delete', 'pods', '--all', '--grace-period=0', '--force', '--wait=false'], { timeoutMs: 60_000 })
    await c.kubectl(['delete', 'namespace', NAMESPACE, '--ignore-not-found', '--wait=false'])
    const gone = await waitFor(`namespace ${NAMESPACE} gone`, async () => ((await c.api.raw('GET', `/api/v1/namespaces/${NAMESPACE}`)).status === 404 ? true : undefined), { timeoutMs: 90_000, log }).catch((err: Error) => err)
    t.equal(gone, true, `namespace ${NAMESPACE} and everything in it deleted`)
  }
}
