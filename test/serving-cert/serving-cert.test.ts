// The pure parts of the self mode: issuing (proven by a real TLS handshake), checking, the
// Secret plan and the trust bundle. The Kubernetes side is in self-mode.test.ts.
import t from 'tap'
import { once } from 'node:events'
import { X509Certificate } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { connect, createServer } from 'node:tls'
import { MANAGED_BY, type StoredSecret } from '../../src/bootstrap/secret-model.ts'
import { splitCertificates } from '../../src/core/certs/pem-bundle.ts'
import { buildTrustBundle, bundleTrusts, sameBundle } from '../../src/serving-cert/ca-bundle.ts'
import { checkServingCert } from '../../src/serving-cert/check-serving-cert.ts'
import { issueServingCert, servingIdentity } from '../../src/serving-cert/issue-serving-cert.ts'
import { planServingSecret } from '../../src/serving-cert/plan-serving-secret.ts'
import { buildServingSecretWrite } from '../../src/serving-cert/serving-secret.ts'
import { ServingSecretKeys, type ServingMaterial } from '../../src/serving-cert/types.ts'

const DAY = 86_400_000
const identity = servingIdentity('contour-tls-injector', 'cti-system', ['127.0.0.1'])
const issue = (now = new Date(), lifetimeMs = 365 * DAY) => issueServingCert({ identity, lifetimeMs, now })
const material = (m: { caCert: string; cert: string; key: string }, previousCaCerts = ''): ServingMaterial => ({ ...m, previousCaCerts })

function stored(m: ServingMaterial, opts: { managed?: boolean; resourceVersion?: string } = {}): StoredSecret {
  const write = buildServingSecretWrite('serving', m, { fingerprint: 'f', notAfter: new Date(), writtenAt: new Date() })
  return { ...write, labels: opts.managed === false ? {} : write.labels, resourceVersion: opts.resourceVersion ?? '7' }
}

t.test('names: the four Service names, then extra DNS names and IPs', async (t) => {
  t.same(identity.dnsNames, ['contour-tls-injector', 'contour-tls-injector.cti-system', 'contour-tls-injector.cti-system.svc', 'contour-tls-injector.cti-system.svc.cluster.local'])
  t.same(identity.ipAddresses, ['127.0.0.1'])
  t.throws(() => servingIdentity('Bad_Name', 'ns'), { code: 'ERR_CONFIG' })
  t.throws(() => servingIdentity('svc', 'ns', ['not a name']), { code: 'ERR_CONFIG' })
})

t.test('an issued certificate passes a real TLS handshake for every name, against its CA only', async (t) => {
  const [a, b] = await Promise.all([issue(), issue()])
  t.not(a.caCert, b.caCert, 'every issue makes a new CA')
  t.notMatch(JSON.stringify(a), /BEGIN (RSA )?PRIVATE KEY[\s\S]*BEGIN (RSA )?PRIVATE KEY/, 'one private key only: the CA key is not returned')
  const ca = new X509Certificate(a.caCert)
  t.ok(ca.ca, 'CA:true')
  const server = createServer({ cert: a.cert, key: a.key, minVersion: 'TLSv1.3' }, (s) => s.end('ok'))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => server.close())
  const port = (server.address() as AddressInfo).port
  const handshake = (servername: string | undefined, caCert: string) =>
    new Promise<string>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port, servername, ca: caCert }, () => {
        socket.end()
        resolve(socket.getProtocol() ?? '')
      })
      socket.on('error', reject)
    })
  for (const name of identity.dnsNames) t.equal(await handshake(name, a.caCert), 'TLSv1.3', `verified as ${name}`)
  t.equal(await handshake(undefined, a.caCert), 'TLSv1.3', 'verified by IP 127.0.0.1')
  await t.rejects(handshake('contour-tls-injector.other.svc', a.caCert), /altnames|Hostname/i, 'another name is refused')
  await t.rejects(handshake(identity.dnsNames[0], b.caCert), /self.signed|unable to verify|unknown/i, 'another CA is refused')
})

t.test('check: usable, due for renewal, expired, wrong names, wrong CA', async (t) => {
  const now = new Date()
  const m = await issue(now, 30 * DAY)
  t.match(checkServingCert(m, { identity, now }), { ok: true })
  t.match(checkServingCert(m, { identity, now: new Date(now.getTime() + 21 * DAY) }), { ok: false, reason: 'renewal-due' })
  t.match(checkServingCert(m, { identity, now: new Date(now.getTime() + 31 * DAY) }), { ok: false, reason: 'expired' })
  t.match(checkServingCert(m, { identity: servingIdentity('renamed', 'cti-system'), now }), { ok: false, reason: 'missing-name' })
  const other = await issue(now)
  t.match(checkServingCert({ ...m, caCert: other.caCert }, { identity, now }), { ok: false, reason: 'not-signed-by-ca' })
  t.match(checkServingCert({ ...m, key: other.key }, { identity, now }), { ok: false, reason: 'key-mismatch' })
  t.match(checkServingCert({ ...m, cert: 'nope' }, { identity, now }), { ok: false, reason: 'malformed' })
})

t.test('plan: create, use, renew, repair, adopt-safe, and refuse foreign Secrets', async (t) => {
  const now = new Date()
  const current = material(await issue(now))
  const check = (m: ServingMaterial) => checkServingCert(m, { identity, now })
  const absent = planServingSecret({ read: undefined, check, servingCaCert: '' })
  t.match(absent, { kind: 'write', reason: 'missing', anchor: undefined, previousCaCerts: '' })

  const use = planServingSecret({ read: stored(current), check, servingCaCert: current.caCert })
  t.match(use, { kind: 'use' })

  const later = new Date(now.getTime() + 300 * DAY)
  const renew = planServingSecret({ read: stored(current), check: (m) => checkServingCert(m, { identity, now: later }), servingCaCert: current.caCert })
  t.match(renew, { kind: 'write', reason: 'renewal', anchor: { resourceVersion: '7' } })
  if (renew.kind === 'write') t.same(splitCertificates(renew.previousCaCerts), splitCertificates(current.caCert), 'the replaced CA is kept as the previous CA')

  const broken = { ...stored(current), data: { ...stored(current).data, [ServingSecretKeys.key]: Buffer.from('') } }
  t.match(planServingSecret({ read: broken, check, servingCaCert: '' }), { kind: 'write', reason: 'invalid', anchor: { resourceVersion: '7' } })

  const deletedWhileServing = planServingSecret({ read: undefined, check, servingCaCert: current.caCert })
  if (deletedWhileServing.kind === 'write') t.ok(bundleTrusts(deletedWhileServing.previousCaCerts, current.caCert), 'a re-created Secret still trusts the CA being served')

  t.match(planServingSecret({ read: stored(current, { managed: false }), check, servingCaCert: '' }), { kind: 'use' }, 'a valid foreign Secret is used as it is')
  const foreignBroken = { ...stored(current, { managed: false }), data: {} }
  t.match(planServingSecret({ read: foreignBroken, check, servingCaCert: '' }), { kind: 'refuse' }, 'a broken foreign Secret is never overwritten')
  t.equal(stored(current).labels[MANAGED_BY.key], MANAGED_BY.value)
})

t.test('trust bundle: current CA first, previous CAs while unexpired, no duplicates, deterministic', async (t) => {
  const now = new Date()
  const [a, b] = await Promise.all([issue(now), issue(now)])
  const short = await issue(now, 60_000)
  const bundle = buildTrustBundle({ caCert: b.caCert, previousCaCerts: `${a.caCert}\n${b.caCert}\n${short.caCert}` }, now)
  t.same(splitCertificates(bundle), [b.caCert.trim(), a.caCert.trim(), short.caCert.trim()].map((p) => p.replace(/\r\n/g, '\n')))
  t.ok(bundleTrusts(bundle, a.caCert) && bundleTrusts(bundle, b.caCert))
  const afterShort = buildTrustBundle({ caCert: b.caCert, previousCaCerts: `${a.caCert}${short.caCert}` }, new Date(now.getTime() + 120_000))
  t.notOk(bundleTrusts(afterShort, short.caCert), 'an expired previous CA is dropped')
  t.ok(sameBundle(buildTrustBundle({ caCert: b.caCert, previousCaCerts: a.caCert }, now), buildTrustBundle({ caCert: b.caCert, previousCaCerts: a.caCert.replace(/\n/g, '\r\n') }, now)))
  t.notOk(bundleTrusts('garbage', a.caCert))
})
