// The self mode's protocol as a unit, over in-memory stores: replicas converge on one
// certificate, a stale replica can never take a new CA back out of the caBundle, and a replica
// switches to a renewed certificate only after the caBundle has trusted its CA for settleMs.
import t from 'tap'
import { X509Certificate } from 'node:crypto'
import { systemClock } from '../../src/bootstrap/clock.ts'
import { SecretStoreError } from '../../src/bootstrap/secret-store.ts'
import { splitCertificates } from '../../src/core/certs/pem-bundle.ts'
import { bundleTrusts } from '../../src/serving-cert/ca-bundle.ts'
import { checkServingCert } from '../../src/serving-cert/check-serving-cert.ts'
import { issueServingCert, servingIdentity } from '../../src/serving-cert/issue-serving-cert.ts'
import { startServingCert, type ServingPair } from '../../src/serving-cert/serving-cert-manager.ts'
import { syncServingCert } from '../../src/serving-cert/sync-serving-cert.ts'
import { buildServingSecretWrite, materialFromSecret } from '../../src/serving-cert/serving-secret.ts'
import type { ServingMaterial } from '../../src/serving-cert/types.ts'
import { memoryCluster } from './memory-stores.ts'

const identity = servingIdentity('cti', 'cti-system')
const SECRET = 'cti-serving-cert'
const quiet = { info: () => undefined, warn: () => undefined }
const check = (m: ServingMaterial) => checkServingCert(m, { identity, now: new Date() })
const issue = (lifetimeMs = 3_600_000) => issueServingCert({ identity, lifetimeMs, now: new Date() })
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function syncAs(cluster: ReturnType<typeof memoryCluster>, servingCaCert = '') {
  return syncServingCert({ store: cluster.secrets, webhooks: cluster.webhooks, name: SECRET, issue: () => issue(), check, servingCaCert, clock: systemClock, deadline: Date.now() + 10_000, log: () => undefined })
}

t.test('replicas starting together converge on one certificate and one CA', async (t) => {
  const cluster = memoryCluster(['a', 'b'])
  const results = await Promise.all([1, 2, 3, 4].map(() => syncAs(cluster)))
  t.equal(new Set(results.map((r) => r.material.cert)).size, 1, 'one certificate')
  t.equal(results.filter((r) => r.outcome === 'created').length, 1, 'written once, adopted by the others')
  const ca = results[0]?.material.caCert ?? ''
  t.ok(cluster.webhooks.view.webhooks.every((w) => splitCertificates(w.caBundle).length === 1 && bundleTrusts(w.caBundle, ca)), 'every webhook trusts exactly that CA')
})

t.test('a replica that read the old Secret cannot take the new CA out of the caBundle', async (t) => {
  const cluster = memoryCluster(['a'])
  await syncAs(cluster)
  // The caBundle is empty again (say the configuration was re-created): every replica wants to apply.
  cluster.webhooks.view = { resourceVersion: '1000', webhooks: [{ name: 'a', caBundle: '' }] }
  // The stale replica reads the configuration, then the (old) Secret; before it applies,
  // another replica renews the Secret and publishes [new CA, old CA].
  let renewed = ''
  const staleSecrets = {
    ...cluster.secrets,
    get: async (name: string) => {
      const old = cluster.secrets.objects.get(name)
      if (renewed !== '' || old === undefined) return old
      const oldCa = (materialFromSecret(old) as { material: ServingMaterial }).material.caCert
      const next = await issue()
      await cluster.secrets.replace(buildServingSecretWrite(SECRET, { ...next, previousCaCerts: oldCa }, { fingerprint: 'x', notAfter: new Date(), writtenAt: new Date() }, old), old.resourceVersion)
      renewed = next.caCert
      await syncAs(cluster)
      return old
    },
  }
  const result = await syncServingCert({ store: staleSecrets, webhooks: cluster.webhooks, name: SECRET, issue: () => issue(), check, servingCaCert: '', clock: systemClock, deadline: Date.now() + 10_000, log: () => undefined })
  t.ok(renewed !== '', 'the renewal happened between the stale reads')
  t.equal(result.material.caCert, renewed, 'the stale apply got 409 and the replica ended on the renewed Secret')
  const published = cluster.webhooks.history.slice(1).map((h) => h.bundle)
  t.ok(published.length > 0 && published.every((b) => bundleTrusts(b, renewed)), 'no bundle without the new CA was ever published after the renewal')
})

t.test('a renewed certificate is served only after the caBundle has trusted its CA for settleMs', async (t) => {
  const cluster = memoryCluster(['a'])
  const reloads: Array<{ at: number; pair: ServingPair }> = []
  const settleMs = 400
  const handle = await startServingCert({
    secrets: cluster.secrets, webhooks: cluster.webhooks, secretName: SECRET, identity, lifetimeMs: 3_600_000, log: quiet,
    onReload: (pair) => reloads.push({ at: Date.now(), pair }), syncIntervalMs: 50, settleMs, retryMs: 50,
  })
  t.teardown(() => handle.close())
  const first = handle.current()
  t.ok(bundleTrusts(cluster.webhooks.view.webhooks[0]?.caBundle ?? '', first.caCert), 'the first CA is published before start() returns')

  // Another replica renews the Secret (not the bundle).
  const old = cluster.secrets.objects.get(SECRET)!
  const next = await issue()
  await cluster.secrets.replace(buildServingSecretWrite(SECRET, { ...next, previousCaCerts: first.caCert }, { fingerprint: 'x', notAfter: new Date(), writtenAt: new Date() }, old), old.resourceVersion)
  for (let i = 0; i < 100 && reloads.length === 0; i++) await sleep(20)
  t.equal(reloads.length, 1, 'switched once')
  const published = cluster.webhooks.history.find((h) => bundleTrusts(h.bundle, next.caCert))
  t.ok(published, 'the new CA was published')
  t.ok((reloads[0]?.at ?? 0) - (published?.at ?? Infinity) >= settleMs - 5, `switched ${(reloads[0]?.at ?? 0) - (published?.at ?? 0)} ms after publishing (settle ${settleMs} ms)`)
  t.ok(bundleTrusts(cluster.webhooks.view.webhooks[0]?.caBundle ?? '', first.caCert), 'the previous CA stays trusted')
  t.equal(reloads[0]?.pair.cert.toString(), next.cert, 'the pair handed over is the renewed one')
  t.equal(handle.current().cert, next.cert)
})

t.test('renewal before expiry, by the replica itself, on its timer', async (t) => {
  const cluster = memoryCluster(['a'])
  const reloads: ServingPair[] = []
  const handle = await startServingCert({
    secrets: cluster.secrets, webhooks: cluster.webhooks, secretName: SECRET, identity, lifetimeMs: 15_000, log: quiet,
    onReload: (pair) => reloads.push(pair), syncIntervalMs: 60_000, settleMs: 100, retryMs: 50,
  })
  t.teardown(() => handle.close())
  const first = handle.current()
  // Renewal is due when a third of the (back-dated) lifetime is left: after about 10 s.
  for (let i = 0; i < 200 && reloads.length === 0; i++) await sleep(100)
  t.equal(reloads.length, 1, 'renewed and switched without waiting for the 60 s sync interval')
  const renewed = handle.current()
  t.not(renewed.caCert, first.caCert, 'a new CA with the new certificate')
  t.ok(new X509Certificate(renewed.cert).validToDate > new X509Certificate(first.cert).validToDate)
  t.ok(splitCertificates(renewed.previousCaCerts).includes(splitCertificates(first.caCert)[0] ?? '-'), 'the old CA is kept as previous')
})

t.test('a failed round is logged and retried; the current certificate keeps being served', async (t) => {
  const cluster = memoryCluster(['a'])
  let failing = false
  const flaky = { ...cluster.webhooks, get: async () => {
    if (failing) throw new SecretStoreError('forbidden', 'get MutatingWebhookConfiguration cti: 403', { status: 403 })
    return cluster.webhooks.view
  } }
  const warnings: string[] = []
  const errors: string[] = []
  const reloads: ServingPair[] = []
  const handle = await startServingCert({
    secrets: cluster.secrets, webhooks: flaky, secretName: SECRET, identity, lifetimeMs: 3_600_000,
    log: { info: () => undefined, warn: (line) => warnings.push(line) }, onReload: (pair) => reloads.push(pair), onError: (err) => errors.push((err as { code?: string }).code ?? ''),
    syncIntervalMs: 30, settleMs: 0, retryMs: 20,
  })
  t.teardown(() => handle.close())
  const first = handle.current()
  failing = true
  for (let i = 0; i < 50 && errors.length < 2; i++) await sleep(20)
  t.ok(errors.length >= 2 && errors.every((c) => c === 'ERR_FORBIDDEN'), `rounds fail with their code (${errors.join(', ')})`)
  t.match(warnings[0], /serving certificate sync failed \(ERR_FORBIDDEN\).*retrying in/)
  t.equal(handle.current(), first, 'still serving the same certificate')
  // Back to normal, and the Secret was renewed meanwhile by someone else: picked up.
  const old = cluster.secrets.objects.get(SECRET)!
  const next = await issue()
  await cluster.secrets.replace(buildServingSecretWrite(SECRET, { ...next, previousCaCerts: first.caCert }, { fingerprint: 'x', notAfter: new Date(), writtenAt: new Date() }, old), old.resourceVersion)
  failing = false
  for (let i = 0; i < 100 && reloads.length === 0; i++) await sleep(20)
  t.equal(reloads.length, 1, 'recovered and switched to the renewed certificate')
})

t.test('close() stops the timer: nothing runs afterwards', async (t) => {
  const cluster = memoryCluster(['a'])
  let gets = 0
  const counting = { ...cluster.webhooks, get: async () => (gets++, cluster.webhooks.view) }
  const handle = await startServingCert({ secrets: cluster.secrets, webhooks: counting, secretName: SECRET, identity, lifetimeMs: 3_600_000, log: quiet, onReload: () => undefined, syncIntervalMs: 20 })
  await sleep(100)
  handle.close()
  const after = gets
  await sleep(150)
  t.ok(after > 1, 'it was syncing')
  t.equal(gets, after, 'and stopped')
})
