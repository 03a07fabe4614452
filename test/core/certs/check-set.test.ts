import { generateKeyPairSync } from 'node:crypto'
import t, { type Test } from 'tap'
import { checkCertificateSet, checkLeafPair } from '../../../src/core/certs/check-set.ts'
import { fingerprintSet, isSameMaterial } from '../../../src/core/certs/fingerprint.ts'
import { issueCertificateSet, issueCertificateSetWithOverrides } from '../../../src/core/certs/issue-set.ts'
import { CertErrorCodes, CheckReasons, type CertificateSet, type CheckResult } from '../../../src/core/certs/types.ts'
import { x509 } from './cert-inspect.ts'

const DAY = 24 * 60 * 60 * 1000
const NOW = new Date('2030-03-01T12:00:00Z')
const ns = { namespace: 'projectcontour' }
const issueAt = (now: Date, lifetimeDays = 365) => issueCertificateSet({ ...ns, now, lifetimeDays })

const fresh = await issueAt(NOW)
const other = await issueAt(NOW)

function reasonOf(result: CheckResult): string {
  return result.ok ? 'ok' : result.reason
}

/** A failure's detail is a sentence about the set: never any PEM, let alone a key. */
function assertCleanDetail(t: Test, result: CheckResult, set: CertificateSet): void {
  if (result.ok) return
  t.notMatch(result.detail, /-----BEGIN|PRIVATE KEY/)
  for (const key of [set.contourKey, set.envoyKey]) {
    const body = key.split('\n')[1] ?? ''
    if (body !== '') t.notOk(result.detail.includes(body.slice(0, 24)), 'no key text in detail')
  }
}

t.test('a fresh set is ok, with earliest notAfter, renewAt and a stable fingerprint', async (t) => {
  const result = checkCertificateSet(fresh, { now: NOW })
  if (!t.ok(result.ok) || !result.ok) return
  const notAfter = x509(fresh.contourCert).validToDate
  t.equal(result.notAfter.getTime(), notAfter.getTime())
  const lifetime = notAfter.getTime() - x509(fresh.contourCert).validFromDate.getTime()
  t.equal(result.renewAt.getTime(), notAfter.getTime() - Math.floor(lifetime / 3))
  t.match(result.fingerprint, /^[0-9a-f]{64}$/)
  t.equal(result.fingerprint, fingerprintSet(fresh))
  t.equal(fingerprintSet(fresh), fingerprintSet({ ...fresh }), 'same material, same fingerprint')
  t.not(fingerprintSet(fresh), fingerprintSet(other), 'another set, another fingerprint')
})

t.test('malformed: unparsable or missing pieces, and keys never quoted', async (t) => {
  const cases: [string, CertificateSet][] = [
    ['garbage CA', { ...fresh, caCert: 'not a certificate' }],
    ['truncated leaf', { ...fresh, contourCert: fresh.contourCert.slice(0, 200) + '\n-----END CERTIFICATE-----\n' }],
    ['empty key', { ...fresh, contourKey: '' }],
    ['garbage key', { ...fresh, envoyKey: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n' }],
    ['key where the cert goes', { ...fresh, envoyCert: fresh.envoyKey }],
    ['missing field', { ...fresh, envoyCert: undefined as unknown as string }],
  ]
  for (const [name, set] of cases) {
    const result = checkCertificateSet(set, { now: NOW })
    t.equal(reasonOf(result), CheckReasons.malformed, name)
    assertCleanDetail(t, result, set)
  }
})

t.test('ca-not-ca: a "CA" without CA:true', async (t) => {
  const set = await issueCertificateSetWithOverrides({ ...ns, now: NOW }, { ca: { isCa: false } })
  t.equal(reasonOf(checkCertificateSet(set, { now: NOW })), CheckReasons.caNotCa)
})

t.test('not-signed-by-ca: leaves of one set with the CA of another', async (t) => {
  t.equal(reasonOf(checkCertificateSet({ ...fresh, caCert: other.caCert }, { now: NOW })), CheckReasons.notSignedByCa)
  const mixed = { ...fresh, envoyCert: other.envoyCert, envoyKey: other.envoyKey }
  t.equal(reasonOf(checkCertificateSet(mixed, { now: NOW })), CheckReasons.notSignedByCa)
})

t.test('key-mismatch: swapped keys', async (t) => {
  const swapped = { ...fresh, contourKey: fresh.envoyKey, envoyKey: fresh.contourKey }
  const result = checkCertificateSet(swapped, { now: NOW })
  t.equal(reasonOf(result), CheckReasons.keyMismatch)
  assertCleanDetail(t, result, swapped)
  const ecKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' })
  const ec = { ...fresh, contourKey: ecKey.toString() }
  t.equal(reasonOf(checkCertificateSet(ec, { now: NOW })), CheckReasons.keyMismatch, 'a key of another type')
})

t.test('missing-san-contour: a Contour leaf named only after its Service', async (t) => {
  const set = await issueCertificateSetWithOverrides(
    { ...ns, now: NOW },
    { contour: { dnsNames: ['contour.projectcontour', 'contour.projectcontour.svc'] } },
  )
  t.equal(reasonOf(checkCertificateSet(set, { now: NOW })), CheckReasons.missingSanContour)
})

t.test('wrong-usage: EKUs swapped between the leaves', async (t) => {
  const set = await issueCertificateSetWithOverrides({ ...ns, now: NOW }, { envoy: { extKeyUsage: ['serverAuth'] } })
  t.equal(reasonOf(checkCertificateSet(set, { now: NOW })), CheckReasons.wrongUsage)
  const noEku = await issueCertificateSetWithOverrides({ ...ns, now: NOW }, { envoy: { extKeyUsage: [] } })
  t.ok(checkCertificateSet(noEku, { now: NOW }).ok, 'no EKU extension means any usage, as in Go and OpenSSL')
})

t.test('time: expired, not yet valid, renewal window', async (t) => {
  const expired = await issueAt(new Date(Date.now() - 10 * DAY), 1)
  t.equal(reasonOf(checkCertificateSet(expired)), CheckReasons.expired, 'issued 10 days ago for 1 day')
  const future = await issueAt(new Date(Date.now() + 10 * DAY))
  t.equal(reasonOf(checkCertificateSet(future)), CheckReasons.notYetValid, 'issued for 10 days from now')
  t.equal(reasonOf(checkCertificateSet(fresh, { now: new Date(NOW.getTime() - 6 * 60_000) })), CheckReasons.notYetValid)
  t.ok(checkCertificateSet(fresh, { now: new Date(NOW.getTime() - 4 * 60_000) }).ok, 'inside the 5-minute back-dating')

  t.ok(checkCertificateSet(fresh, { now: new Date(NOW.getTime() + 240 * DAY) }).ok, '125 of 365 days left')
  t.equal(reasonOf(checkCertificateSet(fresh, { now: new Date(NOW.getTime() + 250 * DAY) })), CheckReasons.renewalDue)
  t.ok(checkCertificateSet(fresh, { now: new Date(NOW.getTime() + 250 * DAY), renewFraction: 0.1 }).ok)
  t.ok(checkCertificateSet(fresh, { now: new Date(NOW.getTime() + 364 * DAY), renewFraction: 0 }).ok, '0 disables renewal')
  t.equal(reasonOf(checkCertificateSet(fresh, { now: new Date(NOW.getTime() + 366 * DAY) })), CheckReasons.expired)
})

t.test('renewal follows the CA when the CA ends first', async (t) => {
  const caEnd = new Date(NOW.getTime() + 90 * DAY)
  const set = await issueCertificateSetWithOverrides({ ...ns, now: NOW }, { ca: { notAfter: caEnd } })
  const result = checkCertificateSet(set, { now: NOW })
  if (!t.ok(result.ok) || !result.ok) return
  t.equal(result.notAfter.getTime(), caEnd.getTime(), 'earliest notAfter of the set')
  t.ok(result.renewAt < caEnd && result.renewAt.getTime() > NOW.getTime() + 59 * DAY, 'a third of the CA lifetime')
  t.equal(reasonOf(checkCertificateSet(set, { now: new Date(NOW.getTime() + 70 * DAY) })), CheckReasons.renewalDue)
})

t.test('checkLeafPair: the Envoy pair and the Contour pair, as mounted', async (t) => {
  const envoy = { caCert: fresh.caCert, cert: fresh.envoyCert, key: fresh.envoyKey }
  const ok = checkLeafPair(envoy, { usage: 'client', now: NOW })
  t.ok(ok.ok)
  t.equal(reasonOf(checkLeafPair(envoy, { usage: 'server', now: NOW })), CheckReasons.wrongUsage)
  t.equal(reasonOf(checkLeafPair({ ...envoy, caCert: other.caCert }, { usage: 'client', now: NOW })), CheckReasons.notSignedByCa)
  t.equal(reasonOf(checkLeafPair({ ...envoy, key: fresh.contourKey }, { usage: 'client', now: NOW })), CheckReasons.keyMismatch)
  t.equal(reasonOf(checkLeafPair({ ...envoy, cert: 'nope' }, { usage: 'client', now: NOW })), CheckReasons.malformed)
  t.equal(reasonOf(checkLeafPair(envoy, { usage: 'client', now: new Date(NOW.getTime() + 400 * DAY) })), CheckReasons.expired)
  const contour = { caCert: fresh.caCert, cert: fresh.contourCert, key: fresh.contourKey }
  t.ok(checkLeafPair(contour, { usage: 'server', now: NOW }).ok)
  const noSan = await issueCertificateSetWithOverrides({ ...ns, now: NOW }, { contour: { dnsNames: ['xds'] } })
  const pair = { caCert: noSan.caCert, cert: noSan.contourCert, key: noSan.contourKey }
  t.equal(reasonOf(checkLeafPair(pair, { usage: 'server', now: NOW })), CheckReasons.missingSanContour)
})

t.test('bad check options throw ERR_CERT_OPTIONS', async (t) => {
  for (const renewFraction of [-0.1, 1, Number.NaN]) {
    t.throws(() => checkCertificateSet(fresh, { renewFraction }), { code: CertErrorCodes.ERR_CERT_OPTIONS })
  }
  t.throws(() => checkCertificateSet(fresh, { now: new Date('x') }), { code: CertErrorCodes.ERR_CERT_OPTIONS })
})

t.test('isSameMaterial and fingerprintSet edge cases', async (t) => {
  t.ok(isSameMaterial(fresh, { ...fresh }))
  const crlf = { ...fresh, contourCert: fresh.contourCert.replace(/\n/g, '\r\n'), envoyKey: fresh.envoyKey.trimEnd() }
  t.ok(isSameMaterial(fresh, crlf), 'line endings and trailing newline do not matter')
  t.notOk(isSameMaterial(fresh, other))
  t.notOk(isSameMaterial(fresh, { ...fresh, envoyKey: other.envoyKey }), 'a different key is different material')
  t.notOk(isSameMaterial(fresh, { ...fresh, caCert: 'garbage' }))
  t.throws(() => fingerprintSet({ ...fresh, caCert: 'garbage' }), { code: CertErrorCodes.ERR_CERT_MALFORMED })
})

t.test('checkCertificateSet time (reported, not asserted)', async (t) => {
  const durations: number[] = []
  for (let i = 0; i < 9; i++) {
    const start = performance.now()
    checkCertificateSet(fresh, { now: NOW })
    durations.push(performance.now() - start)
  }
  durations.sort((a, b) => a - b)
  t.comment(`checkCertificateSet: median ${durations[4]?.toFixed(2)} ms over 9 (first call ${durations.at(-1)?.toFixed(2)} ms max)`)
  t.equal(durations.length, 9)
})

t.test('a CA bundle: leaves verify against the first CA, every CA must be one, the fingerprint covers them all', async (t) => {
  const set = await issueCertificateSet({ namespace: 'projectcontour' })
  const other = await issueCertificateSet({ namespace: 'projectcontour' })
  const single = checkCertificateSet(set)
  const bundled = checkCertificateSet({ ...set, caCert: `${set.caCert.trim()}\n${other.caCert}` })
  t.ok(single.ok && bundled.ok, 'the signing CA first, another trusted after it: valid')
  if (single.ok && bundled.ok) t.not(bundled.fingerprint, single.fingerprint, 'a bundle is another identity than its first CA alone')
  t.match(checkCertificateSet({ ...set, caCert: `${other.caCert.trim()}\n${set.caCert}` }), { ok: false, reason: 'not-signed-by-ca' }, 'the leaves must verify against the first CA')
  t.match(checkCertificateSet({ ...set, caCert: `${set.caCert.trim()}\n${other.contourCert}` }), { ok: false, reason: 'ca-not-ca', detail: /certificate 2 of 2/ }, 'a leaf in the bundle is refused')
  const broken = `${set.caCert.trim()}\n-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n`
  t.match(checkCertificateSet({ ...set, caCert: broken }), { ok: false, reason: 'malformed', detail: /certificate 2 of 2/ })
  t.match(checkLeafPair({ caCert: `${set.caCert.trim()}\n${other.caCert}`, cert: set.envoyCert, key: set.envoyKey }, { usage: 'client' }), { ok: true }, 'a mounted pair with a bundle')
  t.equal(fingerprintSet({ ...set, caCert: `${set.caCert.trim()}\n${other.caCert}` }), bundled.ok ? bundled.fingerprint : '', 'fingerprintSet agrees with the check')
})
