// The status report from Secrets as bootstrap-tls writes them: healthy, bundled, due, incomplete,
// per instance; and the command against a fake API (the real apiserver case is in the e2e suite).
import t from 'tap'
import { buildSecretWrite, RequestAnnotations, toTrustState, type SecretRole, type StoredSecret } from '../../src/bootstrap/secret-model.ts'
import { addTrust, currentSet } from '../../src/core/rotation/trust-state.ts'
import { fingerprintSet } from '../../src/core/certs/fingerprint.ts'
import { issueCertificateSet } from '../../src/core/certs/issue-set.ts'
import type { CertificateSet } from '../../src/core/certs/types.ts'
import { describeSets, formatStatus } from '../../src/status/describe-sets.ts'

const names = { contour: 'contour-tls', envoy: 'envoy-tls', ca: 'contour-ca' }
const DAY = 86_400_000

function stored(set: CertificateSet, suffix = '', roles: readonly SecretRole[] = ['ca', 'contour', 'envoy']): StoredSecret[] {
  const record = { fingerprint: fingerprintSet(set), notAfter: new Date(Date.now() + 365 * DAY), writtenAt: new Date('2026-12-01T00:00:00Z'), rotateToken: 'r1', rotateTokenHistory: ['r0', 'r1'] }
  return roles.map((role) => ({ ...buildSecretWrite(role, `${names[role]}${suffix}`, set, record), resourceVersion: '1' }))
}

const set = await issueCertificateSet({ namespace: 'projectcontour' })
const other = await issueCertificateSet({ namespace: 'projectcontour' })

t.test('a healthy set: its CA, leaves, tokens, and the renewal time as what comes next', async (t) => {
  const [status] = describeSets(stored(set), names, new Date())
  t.match(status, { instance: '', health: 'ok', state: 'complete', rotateToken: 'r1', honouredTokens: ['r0', 'r1'], missing: [] })
  t.equal(status?.cas.length, 1)
  t.match(status?.contourLeaf, { subject: /CN=contour/ })
  t.match(status?.next, { what: /renewal/, at: /^\d{4}-/ })
  const text = formatStatus('projectcontour', status === undefined ? [] : [status])
  t.match(text, /set contour-ca, contour-tls, envoy-tls in projectcontour/)
  t.match(text, /1 CA in ca\.crt/)
  t.notMatch(text, /BEGIN/, 'no PEM, let alone a key, in the report')
})

t.test('a bundle lists every CA, the signing one first; instances are reported apart', async (t) => {
  const bundled = { ...set, caCert: `${set.caCert.trim()}\n${other.caCert}` }
  const sets = describeSets([...stored(bundled), ...stored(other, '-gw')], names, new Date())
  t.same(sets.map((s) => s.instance), ['', '-gw'])
  t.equal(sets[0]?.cas.length, 2, 'two CAs in the plain set\'s bundle')
  t.match(formatStatus('ns', sets), /\(signs the leaves\)[\s\S]*\(trusted during an overlap\)[\s\S]*instance -gw/)
})

t.test('due, expired and incomplete sets say what the next Contour pod start does', async (t) => {
  t.match(describeSets(stored(set), names, new Date(Date.now() + 300 * DAY))[0], { health: 'renewal-due', phase: 'stable', next: { what: /due now: trust a next CA beside the current one and stage its leaves \(renewal\)/ } })
  t.match(describeSets(stored(set), names, new Date(Date.now() + 400 * DAY))[0], { health: 'expired' })
  t.match(describeSets(stored(set, '', ['contour', 'envoy']), names, new Date())[0], { health: 'incomplete', missing: ['contour-ca'], state: 'missing' })
  t.same(describeSets([], names, new Date()), [])
  t.match(formatStatus('ns', []), /no set managed/)
})

t.test('phases: staged leaves wait for the switch; pending requests on the CA Secret are shown', async (t) => {
  const staged = addTrust(toTrustState(set), other)
  const record = { fingerprint: fingerprintSet(currentSet(staged)), notAfter: new Date(Date.now() + 365 * DAY), writtenAt: new Date(), rotateToken: '', rotateTokenHistory: [], round: { step: 'add-trust' as const, reason: 'rotation', phaseSince: new Date(), revokeTokenHistory: [] } }
  const secrets = (['ca', 'contour', 'envoy'] as const).map((role) => ({ ...buildSecretWrite(role, names[role], staged, record), resourceVersion: '1' }))
  const [status] = describeSets(secrets, names, new Date())
  t.match(status, { phase: 'trusting', stagedContourLeaf: { subject: /CN=contour/ }, next: { what: /switch both leaves to the next CA/, at: /^\d{4}-/ } })
  const asked = secrets.map((s) => (s.name === names.ca ? { ...s, annotations: { ...s.annotations, [RequestAnnotations.revoke]: 'incident-1' } } : s))
  const [revoking] = describeSets(asked, names, new Date())
  t.match(revoking, { pending: { revoke: 'incident-1' }, next: { what: /due now: a whole new set \(revocation\)/ } })
  t.match(formatStatus('ns', revoking === undefined ? [] : [revoking]), /phase: {4}trusting[\s\S]*staged {4}[\s\S]*pending: {2}revoke "incident-1"/)
})
