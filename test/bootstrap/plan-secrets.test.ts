// The pure decision, state by state, on real certificates and the real check: which plan the
// planner picks for each stored state, including every phase of a rotation and claims left
// half-written in each step.
import t from 'tap'
import { planSecrets, type OwnRound, type Plan } from '../../src/bootstrap/plan-secrets.ts'
import {
  buildSecretWrite,
  RequestAnnotations,
  SecretAnnotations,
  toTrustState,
  type ReadSecrets,
  type RoundRecord,
  type SecretRole,
  type SetState,
  type StoredSecret,
} from '../../src/bootstrap/secret-model.ts'
import { checkCertificateSet } from '../../src/core/certs/check-set.ts'
import { fingerprintSet } from '../../src/core/certs/fingerprint.ts'
import { issueCertificateSet } from '../../src/core/certs/issue-set.ts'
import type { CertificateSet } from '../../src/core/certs/types.ts'
import { addTrust, certId, currentSet, notAfterOf, switchLeaves, type TrustState } from '../../src/core/rotation/trust-state.ts'
import { expiredSet, freshSet, renewalDueSet } from './cert-fixtures.ts'

const NAMES = { ca: 'contour-ca', contour: 'contour-tls', envoy: 'envoy-tls' } as const
const NOW = Date.now()
const DAY = 86_400_000
const DELAY = 300_000

const sets: Record<string, CertificateSet> = {
  a: await freshSet('plan', 1),
  b: await freshSet('plan', 2),
  n: await freshSet('plan', 3),
  x: await freshSet('plan', 4),
  z: await freshSet('plan', 5),
  due: await renewalDueSet('plan', 1),
  old: await expiredSet('plan', 1),
  // Its CA expired yesterday: what an overlap leaves behind.
  gone: await issueCertificateSet({ namespace: 'plan', lifetimeDays: 10, now: new Date(NOW - 11 * DAY) }),
}

interface SecretOpts {
  managed?: boolean
  state?: SetState
  writtenAt?: number
  token?: string
  history?: string[]
  rv?: string
  fingerprint?: string | null
  round?: Partial<RoundRecord>
  extra?: Record<string, string>
}

function stored(role: SecretRole, content: CertificateSet | TrustState, o: SecretOpts = {}): StoredSecret {
  const state = toTrustState(content)
  const round: RoundRecord | undefined = o.round ? { step: 'issue', reason: 'missing', phaseSince: new Date(NOW - DAY), revokeTokenHistory: [], ...o.round } : undefined
  const write = buildSecretWrite(role, NAMES[role], content, {
    fingerprint: fingerprintSet(currentSet(state)),
    notAfter: new Date(NOW + DAY),
    writtenAt: new Date(o.writtenAt ?? NOW - 3_600_000),
    rotateToken: o.token ?? '',
    rotateTokenHistory: o.history ?? [],
    ...(round ? { round } : {}),
  }, undefined, o.state ?? 'complete')
  const managed = o.managed ?? true
  const annotations: Record<string, string> = managed ? { ...write.annotations } : {}
  if (o.fingerprint === null) delete annotations[SecretAnnotations.fingerprint]
  else if (o.fingerprint !== undefined) annotations[SecretAnnotations.fingerprint] = o.fingerprint
  return { ...write, labels: managed ? write.labels : {}, annotations: { ...annotations, ...o.extra }, resourceVersion: o.rv ?? `${role}-1` }
}

function secret(role: SecretRole, tag: string, o: SecretOpts = {}): StoredSecret {
  return stored(role, sets[tag] as CertificateSet, o)
}

function all(tag: string, o: SecretOpts = {}): ReadSecrets {
  return { ca: secret('ca', tag, o), contour: secret('contour', tag, o), envoy: secret('envoy', tag, o) }
}

function allOf(state: TrustState, o: SecretOpts = {}, caOpts: SecretOpts = {}): ReadSecrets {
  return { ca: stored('ca', state, { ...o, ...caOpts }), contour: stored('contour', state, o), envoy: stored('envoy', state, o) }
}

function plan(read: ReadSecrets, extra: { rotateToken?: string; round?: OwnRound; pendingForMs?: number } = {}): Plan {
  return planSecrets({
    names: NAMES,
    read,
    check: (set) => checkCertificateSet(set, { now: new Date(NOW) }),
    rotateToken: extra.rotateToken ?? '',
    round: extra.round,
    now: NOW,
    pendingForMs: extra.pendingForMs ?? 0,
    takeoverAfterMs: 20_000,
    propagationDelayMs: DELAY,
  })
}

const fp = (tag: string): string => fingerprintSet(sets[tag] as CertificateSet)
const staging = (base: string, next: string): TrustState => addTrust(toTrustState(sets[base] as CertificateSet), sets[next] as CertificateSet)

t.test('nothing there: a new set, created', async (t) => {
  t.match(plan({}), { kind: 'start-round', step: 'issue', reason: 'missing', anchor: undefined, build: { kind: 'fresh', base: undefined } })
})

t.test('a valid set is used, whoever made it', async (t) => {
  t.match(plan(all('a')), { kind: 'use', warnings: [] })
  t.match(plan(all('a', { managed: false })), { kind: 'use', warnings: [] })
  const withKey = { ...all('a', { managed: false }) }
  withKey.ca = { ...secret('ca', 'a', { managed: false }), data: { 'ca.crt': Buffer.from((sets.a as CertificateSet).caCert), 'tls.key': Buffer.from('a:secret') } }
  const p = plan(withKey)
  t.match(p, { kind: 'use', warnings: [/Secret contour-ca holds more than ca\.crt \(tls\.key\)/] })
  t.notMatch(JSON.stringify(p.kind === 'use' ? p.warnings : []), /a:secret/, 'names keys, never their content')
  const ours = plan(all('a'))
  t.ok(ours.kind === 'use' && ours.nextAt !== undefined && ours.nextAt > NOW + 200 * DAY, 'a managed set says when renewal falls due')
})

t.test('renewal window: ours starts a phased renewal (add-trust on the current state), a foreign one is used with a warning', async (t) => {
  const ours = all('due')
  t.match(plan(ours), { kind: 'start-round', step: 'add-trust', reason: 'renewal', anchor: { resourceVersion: 'ca-1' }, build: { kind: 'fresh', base: { bundle: [/BEGIN CERTIFICATE/] } } })
  const theirs = plan(all('due', { managed: false }))
  t.match(theirs, { kind: 'use', warnings: [/due for renewal, but contour-ca, contour-tls, envoy-tls were not created by contour-tls-injector/] })
})

t.test('rotation: a new token stages a next CA once; seen tokens and no token do not', async (t) => {
  t.match(plan(all('a', { token: 'r1' }), { rotateToken: 'r2' }), { kind: 'start-round', step: 'add-trust', reason: 'rotation', honours: { rotate: 'r2' } })
  t.match(plan(all('a', { token: 'r1' }), { rotateToken: 'r1' }), { kind: 'use' })
  t.match(plan(all('a', { token: 'r2', history: ['r1', 'r2'] }), { rotateToken: 'r1' }), { kind: 'use' }, 'an older token is remembered')
  t.match(plan(all('a', { token: 'r1' }), { rotateToken: '' }), { kind: 'use' })
  t.match(plan(all('a', { managed: false }), { rotateToken: 'r1' }), { kind: 'use', warnings: [/rotation requested, but/] })
})

t.test('the CA Secret asks: rotate stages, revoke issues a whole new set; honoured tokens are not asked again', async (t) => {
  const rotate = { ...all('a'), ca: secret('ca', 'a', { extra: { [RequestAnnotations.rotate]: 'c1' } }) }
  t.match(plan(rotate), { kind: 'start-round', step: 'add-trust', reason: 'rotation', honours: { rotate: 'c1' } })
  const rotated = { ...all('a', { token: 'c1' }), ca: secret('ca', 'a', { token: 'c1', extra: { [RequestAnnotations.rotate]: 'c1' } }) }
  t.match(plan(rotated), { kind: 'use' })
  const revoke = { ...all('a'), ca: secret('ca', 'a', { extra: { [RequestAnnotations.revoke]: 'v1' } }) }
  t.match(plan(revoke), { kind: 'start-round', step: 'issue', reason: 'revocation', honours: { revoke: 'v1' }, build: { kind: 'fresh', base: undefined } })
  const revoked = { ...all('a'), ca: secret('ca', 'a', { round: { revokeTokenHistory: ['v1'] }, extra: { [RequestAnnotations.revoke]: 'v1' } }) }
  t.match(plan(revoked), { kind: 'use' })
  const whileStaged = allOf(staging('a', 'n'), {}, { round: { step: 'add-trust', reason: 'renewal', phaseSince: new Date(NOW - 1000), nextCa: certId((sets.n as CertificateSet).caCert) }, extra: { [RequestAnnotations.revoke]: 'v2' } })
  t.match(plan(whileStaged), { kind: 'start-round', step: 'issue', reason: 'revocation' }, 'a revocation overrides a round in progress')
})

t.test('staged leaves: used until the propagation delay has passed, then switched', async (t) => {
  const state = staging('due', 'n')
  const round = { step: 'add-trust' as const, reason: 'renewal', nextCa: certId((sets.n as CertificateSet).caCert) }
  const fresh = plan(allOf(state, {}, { round: { ...round, phaseSince: new Date(NOW - 60_000) } }))
  t.match(fresh, { kind: 'use', state: { staged: {} } })
  t.equal(fresh.kind === 'use' ? fresh.nextAt : undefined, NOW - 60_000 + DELAY, 'the switch falls due one propagation delay after the trust was written')
  const due = plan(allOf(state, {}, { round: { ...round, phaseSince: new Date(NOW - DELAY) } }))
  t.match(due, { kind: 'start-round', step: 'switch', reason: 'renewal', build: { kind: 'ready' } })
  const target = due.kind === 'start-round' && due.build.kind === 'ready' ? due.build.target : undefined
  t.same(target, switchLeaves(state), 'the target is the staged leaves, next CA first, old CA still trusted')
  t.match(plan(allOf(state, {}, { round: { ...round, phaseSince: new Date(NOW - 1000) } }), { rotateToken: 'r9' }), { kind: 'start-round', step: 'add-trust', reason: 'rotation', build: { kind: 'fresh', base: { staged: {} } } }, 'a rotation asked for meanwhile restages')
  const expiredCurrent = staging('old', 'n')
  t.match(plan(allOf(expiredCurrent, {}, { round: { ...round, phaseSince: new Date(NOW - 1000) } })), { kind: 'start-round', step: 'switch' }, 'current leaves expired: switch at once')
})

t.test('overlap: an expired CA still trusted is dropped; an unexpired one is kept until it expires', async (t) => {
  const overlap = switchLeaves(staging('gone', 'n'))
  t.match(plan(allOf(overlap)), { kind: 'start-round', step: 'drop', build: { kind: 'ready', target: { bundle: [(sets.n as CertificateSet).caCert.replace(/\r\n/g, '\n').trim()] } } })
  const live = switchLeaves(staging('a', 'n'))
  const kept = plan(allOf(live))
  t.match(kept, { kind: 'use' })
  t.ok(kept.kind === 'use' && kept.nextAt !== undefined && kept.nextAt <= notAfterOf((sets.a as CertificateSet).caCert), 'something falls due by the old CA\'s expiry at the latest')
})

t.test('invalid or incomplete sets of ours are replaced; of others, refused naming the Secret', async (t) => {
  t.match(plan(all('old')), { kind: 'start-round', step: 'issue', reason: 'invalid', detail: /expired/ })
  t.match(plan({ ca: secret('ca', 'a'), contour: secret('contour', 'a') }), { kind: 'start-round', reason: 'incomplete', anchor: { name: 'contour-ca' } })
  t.match(plan({ ca: secret('ca', 'a'), contour: secret('contour', 'b'), envoy: secret('envoy', 'x') }), { kind: 'start-round', reason: 'invalid', detail: /not-signed-by-ca/ })
  t.match(plan({ contour: secret('contour', 'old', { managed: false }) }), { kind: 'refuse', secret: 'contour-tls', detail: /Secret contour-tls was not created by contour-tls-injector/ })
  t.match(plan({ ca: secret('ca', 'a', { managed: false }) }), { kind: 'refuse', secret: 'contour-ca' })
  t.match(plan({ ...all('a'), envoy: secret('envoy', 'b', { managed: false }) }), { kind: 'refuse', secret: 'envoy-tls' })
})

t.test('a Secret of our set that lost its label is still ours (its fingerprint says so)', async (t) => {
  const read = { ...all('old'), envoy: secret('envoy', 'old', { managed: false, fingerprint: fp('old') }) }
  t.match(plan(read), { kind: 'start-round', reason: 'invalid' })
})

t.test('leaves with a common ca.crt and no CA Secret: create the CA Secret, nothing else', async (t) => {
  t.match(plan({ contour: secret('contour', 'a', { managed: false }), envoy: secret('envoy', 'a', { managed: false }) }), { kind: 'create-ca' })
  t.match(plan({ contour: secret('contour', 'a', { managed: false }), envoy: secret('envoy', 'b', { managed: false }) }), { kind: 'refuse' })
  t.match(plan({ contour: secret('contour', 'a'), envoy: secret('envoy', 'b') }), { kind: 'start-round', reason: 'incomplete' })
})

t.test('someone else holds the claim: wait, then take over once it is stale', async (t) => {
  const claimed = { ca: secret('ca', 'b', { state: 'writing', writtenAt: NOW - 1000, rv: 'ca-7' }), contour: secret('contour', 'a'), envoy: secret('envoy', 'a') }
  t.match(plan(claimed), { kind: 'wait' })
  t.match(plan(claimed, { pendingForMs: 25_000 }), { kind: 'start-round', step: 'issue', reason: 'takeover', anchor: { resourceVersion: 'ca-7' } })
  const longAgo = { ...claimed, ca: secret('ca', 'b', { state: 'writing', writtenAt: NOW - 3_600_000 }) }
  t.match(plan(longAgo), { kind: 'start-round', reason: 'takeover' }, 'a claim written long ago is stale at once')
  const complete = all('b', { state: 'writing', writtenAt: NOW - 1000 })
  t.match(plan(complete), { kind: 'wait' }, 'a finished-looking set is not used before its writer marks it complete')
  const foreignLeaf = { ...longAgo, envoy: secret('envoy', 'x', { managed: false }) }
  t.match(plan(foreignLeaf), { kind: 'refuse', secret: 'envoy-tls' }, 'a takeover still never overwrites a foreign Secret')
})

t.test('a stale claim in the middle of a phased step is finished, or restaged, never replaced by a whole new set', async (t) => {
  const staged = staging('a', 'n')
  const nextCa = certId((sets.n as CertificateSet).caCert)
  const stale = { state: 'writing' as const, writtenAt: NOW - 3_600_000 }
  // add-trust: the CA Secret was written, one leaf staged, the other not yet.
  const halfStaged = { ca: stored('ca', staged, { ...stale, round: { step: 'add-trust', reason: 'rotation', nextCa } }), contour: stored('contour', staged), envoy: secret('envoy', 'a') }
  const restage = plan(halfStaged)
  t.match(restage, { kind: 'start-round', step: 'add-trust', reason: 'rotation', build: { kind: 'fresh', abandonedCa: nextCa, base: { bundle: [(sets.a as CertificateSet).caCert.replace(/\r\n/g, '\n').trim()] } } }, 'the dead writer\'s next leaves never reached envoy-tls: stage new ones, dropping its CA')
  const fullyStaged = { ca: stored('ca', staged, { ...stale, round: { step: 'add-trust', reason: 'rotation', nextCa } }), contour: stored('contour', staged), envoy: stored('envoy', staged) }
  const finish = plan(fullyStaged)
  t.match(finish, { kind: 'start-round', step: 'add-trust', build: { kind: 'ready' } })
  t.same(finish.kind === 'start-round' && finish.build.kind === 'ready' ? finish.build.target : undefined, staged, 'both staged: just finish')
  // switch: the CA Secret holds [N, A], contour switched, envoy still staged.
  const switched = switchLeaves(staged)
  const halfSwitched = { ca: stored('ca', switched, { ...stale, round: { step: 'switch', reason: 'rotation' } }), contour: stored('contour', switched), envoy: stored('envoy', staged) }
  const resumed = plan(halfSwitched)
  t.match(resumed, { kind: 'start-round', step: 'switch', build: { kind: 'ready' } })
  t.same(resumed.kind === 'start-round' && resumed.build.kind === 'ready' ? resumed.build.target : undefined, switched, 'the taker writes exactly what the dead writer would have')
})

t.test('our own claim: write the leaves not yet ours, then finalize', async (t) => {
  const round = { fingerprint: fp('n'), caResourceVersion: 'ca-9' }
  const ca = secret('ca', 'n', { state: 'writing', rv: 'ca-9', writtenAt: NOW })
  const p1 = plan({ ca, contour: secret('contour', 'a') }, { round })
  t.match(p1, { kind: 'continue-round', leaves: [{ role: 'contour', existing: { resourceVersion: 'contour-1' } }, { role: 'envoy', existing: undefined }] })
  const p2 = plan({ ca, contour: secret('contour', 'n'), envoy: secret('envoy', 'n') }, { round })
  t.match(p2, { kind: 'finalize', anchor: { resourceVersion: 'ca-9' } })
  const lost = plan({ ca: secret('ca', 'z', { state: 'writing', rv: 'ca-10', writtenAt: NOW }), contour: secret('contour', 'n') }, { round })
  t.match(lost, { kind: 'wait' }, 'a claim taken over by someone else is theirs')
  const intruder = plan({ ca, contour: secret('contour', 'x', { managed: false }) }, { round })
  t.match(intruder, { kind: 'refuse', secret: 'contour-tls' })
})
