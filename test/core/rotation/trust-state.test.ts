// The pure steps of the phased rotation and the choice of the next one, on real certificates.
import t from 'tap'
import { checkCertificateSet } from '../../../src/core/certs/check-set.ts'
import { issueCertificateSet } from '../../../src/core/certs/issue-set.ts'
import { nextStep, type StepInput } from '../../../src/core/rotation/next-step.ts'
import { addTrust, certId, currentSet, dropExpired, expiredTrust, issueFresh, phaseOf, signerIn, stagedSet, switchLeaves } from '../../../src/core/rotation/trust-state.ts'

const DAY = 86_400_000
const NOW = Date.now()
const [s, n, m] = await Promise.all([0, 1, 2].map(() => issueCertificateSet({ namespace: 'rot' })))
const due = await issueCertificateSet({ namespace: 'rot', now: new Date(NOW - 300 * DAY) })
const short = await issueCertificateSet({ namespace: 'rot', lifetimeDays: 2, now: new Date(NOW) })
if (!s || !n || !m) throw new Error('sets')

const input = (over: Partial<StepInput> & Pick<StepInput, 'state'>): StepInput => ({
  phaseSince: NOW - 1000,
  now: NOW,
  check: (set) => checkCertificateSet(set, { now: new Date(NOW) }),
  propagationDelayMs: 300_000,
  rotationRequested: false,
  revocationRequested: false,
  ...over,
})

t.test('add-trust, switch, drop: trust grows before a leaf needs it and shrinks after none does', async (t) => {
  const stable = issueFresh(s)
  t.equal(phaseOf(stable), 'stable')
  const staged = addTrust(stable, n)
  t.equal(phaseOf(staged), 'trusting')
  t.equal(staged.bundle.length, 2)
  t.equal(signerIn(staged.bundle, staged.contour.cert), staged.bundle[0], 'current leaves still verify against the first CA')
  t.ok(checkCertificateSet(currentSet(staged)).ok, 'the current set is valid with the bundle')
  t.ok(checkCertificateSet(stagedSet(staged) ?? currentSet(staged)).ok, 'the staged leaves verify against the next CA')
  const switched = switchLeaves(staged)
  t.equal(phaseOf(switched), 'overlap')
  t.same(switched.bundle, [staged.bundle[1], staged.bundle[0]], 'next CA first, old CA still trusted')
  t.equal(switched.contour.cert, n.contourCert)
  t.same(dropExpired(switched, NOW).bundle, switched.bundle, 'an unexpired CA stays')
  t.same(dropExpired(switched, NOW + 400 * DAY).bundle, [switched.bundle[0]], 'once expired it goes')
  t.same(expiredTrust(switched, NOW + 400 * DAY), [switched.bundle[1]])
  const restaged = addTrust(staged, m)
  t.equal(restaged.bundle.length, 2, 'restaging drops the unused next CA')
  t.equal(certId(restaged.bundle[1] as string), certId(m.caCert))
  t.throws(() => switchLeaves(stable), /nothing is staged/)
})

t.test('next step: revocation first, then a broken set, the switch when due, drops, rotation, renewal', async (t) => {
  const stable = issueFresh(s)
  t.match(nextStep(input({ state: stable })), { kind: 'none' })
  t.match(nextStep(input({ state: stable, revocationRequested: true, rotationRequested: true })), { kind: 'step', step: 'issue', reason: 'revocation' })
  t.match(nextStep(input({ state: stable, rotationRequested: true })), { kind: 'step', step: 'add-trust', reason: 'rotation' })
  t.match(nextStep(input({ state: issueFresh(due) })), { kind: 'step', step: 'add-trust', reason: 'renewal' })
  t.match(nextStep(input({ state: stable, now: NOW + 400 * DAY, check: (set) => checkCertificateSet(set, { now: new Date(NOW + 400 * DAY) }) })), { kind: 'step', step: 'issue', reason: 'invalid' })
  const staged = addTrust(issueFresh(due), n)
  const waiting = nextStep(input({ state: staged, stagedReason: 'renewal' }))
  t.match(waiting, { kind: 'none', nextAt: NOW - 1000 + 300_000 })
  t.match(nextStep(input({ state: staged, phaseSince: NOW - 300_000, stagedReason: 'renewal' })), { kind: 'step', step: 'switch', reason: 'renewal' })
  t.match(nextStep(input({ state: staged, rotationRequested: true })), { kind: 'step', step: 'add-trust', reason: 'rotation' })
  const overlap = switchLeaves(addTrust(issueFresh(short), n))
  const later = NOW + 3 * DAY
  t.match(nextStep(input({ state: overlap, now: later, check: (set) => checkCertificateSet(set, { now: new Date(later) }) })), { kind: 'step', step: 'drop' })
  const none = nextStep(input({ state: overlap }))
  t.ok(none.kind === 'none' && none.nextAt !== undefined && none.nextAt <= new Date(NOW + 2 * DAY).getTime(), 'the old CA\'s expiry is when something falls due next')
})
