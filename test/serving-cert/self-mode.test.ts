// --serving-cert-mode=self against a real kube-apiserver (local control plane, no kubelet):
// replicas run in this process as the chart's least-privileged ServiceAccount, and the
// apiserver calls them through a MutatingWebhookConfiguration with loopback URLs.
// Missing binaries fail the suite (never skip it): run `bash scripts/build-binaries.sh`.
import t from 'tap'
import { X509Certificate } from 'node:crypto'
import type { V1MutatingWebhookConfiguration, V1Pod, V1Secret } from '@kubernetes/client-node'
import { startClusterFor } from '../helpers/cluster.ts'
import { buildWebhookConfiguration } from '../../scripts/cluster/webhook-configuration.ts'
import { KubeConfig } from '@kubernetes/client-node'
import { isStoreError } from '../../src/bootstrap/secret-store.ts'
import { splitCertificates } from '../../src/core/certs/pem-bundle.ts'
import { createKubeWebhookConfigurationStore } from '../../src/serving-cert/webhook-configuration-store.ts'
import { FIELD_MANAGER, ServingSecretKeys } from '../../src/serving-cert/types.ts'
import { buildServingRbac } from './rbac.ts'
import { contourPod, freePort, servedCertificate, startReplica, waitServing } from './replicas.ts'

t.setTimeout(10 * 60_000)
const started = Date.now()
const log = (line: string) => process.stderr.write(`# self-mode +${Math.round((Date.now() - started) / 1000)}s ${line}\n`)

const clusterRun = await startClusterFor(t, log)

const SA = 'contour-tls-injector'
const SECRET = 'contour-tls-injector-serving-cert'
const MWC = 'cti-self-mode'
const SECOND_WEBHOOK = 'replica-b.inject.contour-tls-injection.projectcontour.io'

if (clusterRun !== undefined) {
  const { cluster: c, stop } = clusterRun
  const api = c.api
  // Only our configuration may inject: the cluster's own webhook registration goes away.
  await api.raw('DELETE', '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/contour-tls-injector')
  const ns = await c.createNamespace('cti-webhook')
  const target = await c.createNamespace('cti-target', { 'contour-tls-injection': 'enabled' })
  for (const [path, object] of buildServingRbac({ name: 'cti-serving-cert', namespace: ns, serviceAccount: SA, secretName: SECRET, webhookConfigurationName: MWC })) {
    await api.apply(path, object, 'test-setup')
  }
  const kubeconfig = await c.serviceAccountKubeconfig(ns, SA)
  const mwcPath = `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${MWC}`
  const secretPath = `/api/v1/namespaces/${ns}/secrets/${SECRET}`
  const readSecret = () => api.call<V1Secret>('GET', secretPath)
  const secretText = (s: V1Secret, key: string) => Buffer.from(s.data?.[key] ?? '', 'base64').toString('utf8')
  const readBundles = async () => (await api.call<V1MutatingWebhookConfiguration>('GET', mwcPath)).webhooks?.map((w) => Buffer.from(w.clientConfig.caBundle ?? '', 'base64').toString('utf8')) ?? []

  /**
   * Two webhooks, one per replica, with the same rules: every pod is sent to both, so every
   * creation proves the apiserver trusts the certificate each replica serves at that moment.
   */
  const register = async (portA: number, portB: number) => {
    const mwc = buildWebhookConfiguration({ name: MWC, client: { url: `https://127.0.0.1:${portA}/mutate`, caBundlePem: '' } }) as { webhooks: Array<Record<string, unknown>> }
    const first = mwc.webhooks[0] ?? {}
    // No caBundle from the test's field manager: the replicas own it.
    first.clientConfig = { url: `https://127.0.0.1:${portA}/mutate` }
    mwc.webhooks.push({ ...first, name: SECOND_WEBHOOK, clientConfig: { url: `https://127.0.0.1:${portB}/mutate` } })
    await api.apply(mwcPath, mwc, 'test-setup')
  }
  const replicaArgs = (marker: string) => [
    `--kubeconfig=${kubeconfig}`, `--service-namespace=${ns}`, `--service-name=${SA}`, `--serving-cert-secret=${SECRET}`,
    `--webhook-configuration-name=${MWC}`, '--serving-cert-extra-sans=127.0.0.1', `--image=example.test/cti-self-mode:${marker}`,
  ]
  let podCount = 0
  const createPod = async (): Promise<{ ok: boolean; injectedBy?: string; message?: string }> => {
    const res = await api.raw<V1Pod & { message?: string }>('POST', `/api/v1/namespaces/${target}/pods`, contourPod(`contour-${++podCount}`))
    if (res.status !== 201) return { ok: false, message: `HTTP ${res.status}: ${res.body.message ?? ''}` }
    const init = res.body.spec?.initContainers?.[0]
    return { ok: true, injectedBy: init?.name === 'bootstrap-tls' ? init.image : undefined }
  }
  const verifiedBy = (cert: X509Certificate, caPem: string) => cert.checkIssued(new X509Certificate(caPem)) && cert.verify(new X509Certificate(caPem).publicKey)

  await t.test('two replicas starting together end with one CA, published as the caBundle, and the apiserver calls both', async (t) => {
    const [portA, portB] = [await freePort(), await freePort()]
    await register(portA, portB)
    const t0 = Date.now()
    const a = startReplica(portA, replicaArgs('race'))
    const b = startReplica(portB, replicaArgs('race'))
    const [certA, certB] = await Promise.all([waitServing(a), waitServing(b)])
    log(`both replicas serving after ${Date.now() - t0} ms`)
    const secret = await readSecret()
    const ca = secretText(secret, ServingSecretKeys.ca)
    t.equal(splitCertificates(ca).length, 1, 'the Secret holds one CA')
    t.equal(secret.data?.[ServingSecretKeys.previousCa], undefined, 'and no previous one on first creation')
    t.notOk(Object.keys(secret.data ?? {}).some((k) => /key/.test(k) && k !== 'tls.key'), 'no CA key in the Secret')
    t.equal(certA.fingerprint256, certB.fingerprint256, 'both replicas serve the same certificate')
    t.ok(verifiedBy(certA, ca), 'signed by the Secret\'s CA')
    t.same((await readBundles()).map(splitCertificates), [splitCertificates(ca), splitCertificates(ca)], 'every webhook\'s caBundle is exactly that CA')

    const mwc = await api.call<V1MutatingWebhookConfiguration>('GET', mwcPath)
    const ours = mwc.metadata?.managedFields?.filter((f) => f.manager === FIELD_MANAGER) ?? []
    t.equal(ours.length, 1, `one managedFields entry of ${FIELD_MANAGER}`)
    t.equal(ours[0]?.operation, 'Apply', 'by server-side apply')
    const owned = JSON.stringify(ours[0]?.fieldsV1 ?? {})
    t.same(owned.match(/f:[A-Za-z]+/g)?.filter((f) => !['f:webhooks', 'f:name', 'f:clientConfig', 'f:caBundle'].includes(f)), [], `it owns only the caBundle fields (and co-owns the list keys): ${owned}`)

    // The precondition the protocol relies on, from the real apiserver: an apply that carries a
    // stale resourceVersion is refused with 409, and one that changes nothing writes nothing.
    const kc = new KubeConfig()
    kc.loadFromFile(kubeconfig)
    const store = createKubeWebhookConfigurationStore({ kubeConfig: kc, name: MWC, identity: 'the test' })
    const view = await store.get()
    const stale = await store.applyCaBundle('1', view.webhooks.map((w) => w.name), ca).then(() => undefined, (err: unknown) => err)
    t.ok(isStoreError(stale, 'conflict'), `a stale resourceVersion gets 409 (conflict): ${String(stale)}`)
    const again = await store.applyCaBundle(view.resourceVersion, view.webhooks.map((w) => w.name), view.webhooks[0]?.caBundle ?? '')
    t.equal(again.resourceVersion, view.resourceVersion, 'the same bundle again changes nothing')

    let result = await createPod()
    for (let i = 0; i < 50 && !result.ok; i++) { // the apiserver's informer may lag the first publication
      await new Promise((r) => setTimeout(r, 200))
      result = await createPod()
    }
    t.match(result, { ok: true, injectedBy: 'example.test/cti-self-mode:race' }, 'a Contour pod in a labelled namespace is injected through both replicas')
    t.equal(await a.stop(), 0)
    t.equal(await b.stop(), 0)
  })

  await t.test('renewal: a new CA and certificate together, both CAs trusted while replicas switch, no failed call', async (t) => {
    await api.call('DELETE', secretPath)
    const [portA, portB] = [await freePort(), await freePort()]
    await register(portA, portB)
    // A 30 s lifetime: renewal is due after about 20 s (a third left), then replicas re-check every second.
    const tuning = { lifetimeMs: 30_000, syncIntervalMs: 1000, settleMs: 2000, retryMs: 500 }
    const a = startReplica(portA, replicaArgs('renewal'), tuning)
    const b = startReplica(portB, replicaArgs('renewal'), tuning)
    const [firstA, firstB] = await Promise.all([waitServing(a), waitServing(b)])
    const firstCa = secretText(await readSecret(), ServingSecretKeys.ca)
    t.equal(firstA.fingerprint256, firstB.fingerprint256)
    t.ok(verifiedBy(firstA, firstCa), 'both start on the first CA')

    // Pods keep being created (each one calls both replicas) while the caBundle and the served
    // certificates are watched, until both replicas serve a certificate of a new CA.
    const outcomes: Array<Awaited<ReturnType<typeof createPod>>> = []
    const bundleSizes = new Set<number>()
    let bothSwitched = false
    let newCa = ''
    let watching = true
    const creating = (async () => {
      while (watching) {
        outcomes.push(await createPod())
        await new Promise((r) => setTimeout(r, 150))
      }
    })()
    const deadline = Date.now() + 60_000
    while (!bothSwitched && Date.now() < deadline) {
      const bundles = await readBundles()
      for (const bundle of bundles) bundleSizes.add(splitCertificates(bundle).length)
      const secret = await readSecret()
      const ca = secretText(secret, ServingSecretKeys.ca)
      if (ca !== firstCa) {
        newCa = ca
        const served = await Promise.all([servedCertificate(portA), servedCertificate(portB)])
        bothSwitched = served.every((cert) => verifiedBy(cert, ca))
        if (bothSwitched) log(`both replicas serve the renewed certificate (bundle sizes seen: ${[...bundleSizes].join(', ')})`)
      }
      await new Promise((r) => setTimeout(r, 200))
    }
    await new Promise((r) => setTimeout(r, 1000)) // a few more calls on the new certificates
    watching = false
    await creating
    t.ok(bothSwitched, 'both replicas switched to a certificate of a new CA within 60 s')
    const failed = outcomes.filter((o) => !o.ok)
    t.same(failed, [], `no pod creation failed during the renewal (${outcomes.length} pods)`)
    t.ok(outcomes.length > 20, `pods were created throughout (${outcomes.length})`)
    t.ok(outcomes.every((o) => !o.ok || o.injectedBy === 'example.test/cti-self-mode:renewal'), 'and every one was injected')

    const secret = await readSecret()
    t.ok(splitCertificates(secretText(secret, ServingSecretKeys.previousCa)).includes(splitCertificates(firstCa)[0] ?? '-'), 'the Secret records the replaced CA as ca-previous.crt')
    const bundles = await readBundles()
    t.same(bundles.map(splitCertificates), bundles.map(() => [...splitCertificates(newCa), ...splitCertificates(firstCa)]), 'the caBundle holds the new CA and the previous one')
    t.ok(bundleSizes.has(2), 'both CAs were published while the replicas switched')
    t.equal(await a.stop(), 0)
    t.equal(await b.stop(), 0)
  })

  await t.test('clear errors: missing RBAC, missing webhook configuration', async (t) => {
    const bare = await c.createNamespace('cti-norbac')
    await api.call('POST', `/api/v1/namespaces/${bare}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'nobody' } })
    const nobody = await c.serviceAccountKubeconfig(bare, 'nobody')
    const forbidden = startReplica(await freePort(), [`--kubeconfig=${nobody}`, `--service-namespace=${bare}`, `--webhook-configuration-name=${MWC}`])
    t.equal(await forbidden.exited, 1, 'exit 1')
    t.match(forbidden.stderr(), /ERR_FORBIDDEN/, 'with ERR_FORBIDDEN')
    t.match(forbidden.stderr(), /mutatingwebhookconfigurations/, 'naming the resource it may not get')

    const missing = startReplica(await freePort(), [`--kubeconfig=${c.kubeconfig}`, `--service-namespace=${bare}`, '--webhook-configuration-name=does-not-exist'], { startTimeoutMs: 2000 })
    t.equal(await missing.exited, 1, 'exit 1')
    t.match(missing.stderr(), /ERR_WEBHOOK_CONFIGURATION_NOT_FOUND/)
  })

  await t.test('the suite stops every process it started', async (t) => {
    t.same(await stop(), [], 'nothing left running')
  })
}
