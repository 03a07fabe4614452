import { createPrivateKey, createPublicKey } from 'node:crypto'
import t from 'tap'
import { issueCertificateSet } from '../../../src/core/certs/issue-set.ts'
import { CertErrorCodes, type CertificateSet } from '../../../src/core/certs/types.ts'
import {
  authorityKeyIdOf,
  extensionOf,
  OID,
  sansOf,
  signatureOidOf,
  subjectKeyIdOf,
  x509,
} from './cert-inspect.ts'

const NOW = new Date('2030-03-01T12:00:00Z')
const MINUTE = 60_000
const DAY = 24 * 60 * MINUTE

const custom = await issueCertificateSet({
  namespace: 'edge',
  serviceName: 'xds',
  extraSans: ['xds.example.com', '10.1.2.3', '::1', 'XDS.Example.com', '*.xds.example.com'],
  lifetimeDays: 30,
  now: NOW,
})
const plain = await issueCertificateSet({ namespace: 'projectcontour' })

t.test('Contour leaf SANs: pinned name, service names, extra DNS and IP SANs, nothing else', async (t) => {
  t.same(sansOf(custom.contourCert), [
    'DNS:contour',
    'DNS:xds',
    'DNS:xds.edge',
    'DNS:xds.edge.svc',
    'DNS:xds.edge.svc.cluster.local',
    'DNS:xds.example.com',
    'DNS:*.xds.example.com',
    'IP Address:10.1.2.3',
    'IP Address:0:0:0:0:0:0:0:1',
  ])
  t.same(sansOf(plain.contourCert), [
    'DNS:contour',
    'DNS:contour.projectcontour',
    'DNS:contour.projectcontour.svc',
    'DNS:contour.projectcontour.svc.cluster.local',
  ], 'the default service name does not repeat SAN contour')
  t.same(sansOf(plain.envoyCert), [])
  t.same(sansOf(plain.caCert), [])
})

t.test('subjects, issuers and signature algorithm', async (t) => {
  const ca = x509(custom.caCert)
  t.equal(ca.subject, 'CN=contour-tls-injector CA')
  t.equal(ca.issuer, ca.subject, 'CA is self-issued')
  t.ok(ca.verify(ca.publicKey), 'CA is self-signed')
  for (const [pem, cn] of [[custom.contourCert, 'contour'], [custom.envoyCert, 'envoy']] as const) {
    const leaf = x509(pem)
    t.equal(leaf.subject, `CN=${cn}`)
    t.ok(leaf.checkIssued(ca) && leaf.verify(ca.publicKey), `${cn} is signed by the CA`)
    t.equal(authorityKeyIdOf(pem), subjectKeyIdOf(custom.caCert), `${cn} AKI is the CA's SKI`)
  }
  for (const pem of [custom.caCert, custom.contourCert, custom.envoyCert]) {
    t.equal(signatureOidOf(pem), OID.sha256WithRsa)
  }
})

t.test('CA flags: CA:true and keyCertSign+cRLSign, both critical; SKI present', async (t) => {
  t.match(extensionOf(custom.caCert, 'basicConstraints'), { critical: true, cA: true })
  t.match(extensionOf(custom.caCert, 'keyUsage'), {
    critical: true, keyCertSign: true, cRLSign: true, digitalSignature: false,
  })
  t.match(subjectKeyIdOf(custom.caCert), /^[0-9a-f]{40}$/)
  t.equal(extensionOf(custom.caCert, 'extKeyUsage'), undefined)
  t.equal(x509(custom.caCert).ca, true)
})

t.test('leaf flags: not CA, digitalSignature+keyEncipherment, one EKU each', async (t) => {
  for (const pem of [custom.contourCert, custom.envoyCert]) {
    t.match(extensionOf(pem, 'basicConstraints'), { critical: true, cA: false })
    t.match(extensionOf(pem, 'keyUsage'), {
      critical: true, digitalSignature: true, keyEncipherment: true, keyCertSign: false,
    })
    t.equal(x509(pem).ca, false)
  }
  t.same(x509(custom.contourCert).keyUsage, [OID.serverAuth])
  t.same(x509(custom.envoyCert).keyUsage, [OID.clientAuth])
})

t.test('serials: 16 bytes, positive, non-zero first byte, unique across sets', async (t) => {
  const serials = [plain, custom].flatMap((set) => [set.caCert, set.contourCert, set.envoyCert].map((pem) => x509(pem).serialNumber))
  for (const serial of serials) {
    t.match(serial, /^[0-9A-F]{32}$/, 'exactly 16 octets')
    const first = Number.parseInt(serial.slice(0, 2), 16)
    t.ok(first > 0 && first < 0x80, `first byte 0x${serial.slice(0, 2)} keeps the INTEGER positive and minimal`)
  }
  t.equal(new Set(serials).size, serials.length)
})

t.test('validity: back-dated 5 minutes, lifetime honoured, same for the whole set', async (t) => {
  for (const pem of [custom.caCert, custom.contourCert, custom.envoyCert]) {
    const cert = x509(pem)
    t.equal(cert.validFromDate.getTime(), NOW.getTime() - 5 * MINUTE)
    t.equal(cert.validToDate.getTime(), NOW.getTime() + 30 * DAY)
  }
  const lifetime = x509(plain.contourCert).validToDate.getTime() - Date.now()
  t.ok(Math.abs(lifetime - 365 * DAY) < 10 * MINUTE, 'default lifetime is 365 days')
})

t.test('leaf keys: unencrypted PKCS#8 RSA, matching their certificates; keyBits honoured', async (t) => {
  for (const [cert, key] of [[plain.contourCert, plain.contourKey], [plain.envoyCert, plain.envoyKey]] as const) {
    t.match(key, /^-----BEGIN PRIVATE KEY-----\n[\s\S]+-----END PRIVATE KEY-----\n?$/)
    const keyObject = createPrivateKey(key)
    t.equal(keyObject.asymmetricKeyType, 'rsa')
    t.equal(keyObject.asymmetricKeyDetails?.modulusLength, 2048)
    t.ok(x509(cert).checkPrivateKey(keyObject))
  }
  const big = await issueCertificateSet({ namespace: 'projectcontour', keyBits: 3072 })
  t.equal(createPrivateKey(big.envoyKey).asymmetricKeyDetails?.modulusLength, 3072)
  t.equal(x509(big.caCert).publicKey.asymmetricKeyDetails?.modulusLength, 3072)
})

t.test('no CA private key anywhere in the returned set', async (t) => {
  t.same(Object.keys(plain).sort(), ['caCert', 'contourCert', 'contourKey', 'envoyCert', 'envoyKey'])
  t.ok(Object.isFrozen(plain))
  const caPublic = x509(plain.caCert).publicKey.export({ type: 'spki', format: 'der' })
  const keyBlocks = Object.values(plain as CertificateSet)
    .flatMap((value: string) => value.match(/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]+?-----END [A-Z ]*PRIVATE KEY-----/g) ?? [])
  t.equal(keyBlocks.length, 2, 'exactly the two leaf keys')
  for (const block of keyBlocks) {
    const publicOfKey = createPublicKey(createPrivateKey(block)).export({ type: 'spki', format: 'der' })
    t.notOk(publicOfKey.equals(caPublic), 'this private key is not the CA key')
  }
  t.notMatch(plain.caCert, /PRIVATE KEY/)
})

t.test('bad options throw ERR_CERT_OPTIONS', async (t) => {
  const cases = [
    { namespace: '' },
    { namespace: 'Project_Contour' },
    { namespace: 'projectcontour', serviceName: '1contour' },
    { namespace: 'projectcontour', extraSans: ['not a name'] },
    { namespace: 'projectcontour', lifetimeDays: 0 },
    { namespace: 'projectcontour', lifetimeDays: Number.NaN },
    { namespace: 'projectcontour', keyBits: 1024 },
    { namespace: 'projectcontour', now: new Date('nonsense') },
  ]
  for (const opts of cases) {
    await t.rejects(issueCertificateSet(opts), { code: CertErrorCodes.ERR_CERT_OPTIONS }, JSON.stringify(opts))
  }
})

t.test('keygen is native and parallel: timing and event-loop gaps (reported, not asserted)', async (t) => {
  const durations: number[] = []
  let maxGap = 0
  let last = performance.now()
  const ticker = setInterval(() => {
    const now = performance.now()
    maxGap = Math.max(maxGap, now - last)
    last = now
  }, 5)
  for (let i = 0; i < 5; i++) {
    const start = performance.now()
    await issueCertificateSet({ namespace: 'projectcontour' })
    durations.push(performance.now() - start)
  }
  clearInterval(ticker)
  durations.sort((a, b) => a - b)
  t.comment(`issueCertificateSet (RSA 2048): median ${durations[2]?.toFixed(1)} ms over 5, all: ${durations.map((d) => d.toFixed(0)).join(', ')} ms`)
  t.comment(`longest event-loop gap while issuing: ${maxGap.toFixed(1)} ms (5 ms ticker)`)
  t.equal(durations.length, 5)
})
