// The pure decision, state by state, with a stand-in check: a set is valid when its five pieces
// carry the same tag; tag `due` means "valid but inside the renewal window", `old` means expired.
import t from 'tap'
import { planSecrets, type OwnRound, type Plan } from '../../src/bootstrap/plan-secrets.ts'
import { MANAGED_BY, SecretAnnotations, type ReadSecrets, type SecretRole, type StoredSecret } from '../../src/bootstrap/secret-model.ts'
import type { CertificateSet, CheckResult } from '../../src/core/certs/types.ts'

const NAMES = { ca: 'contour-ca', contour: 'contour-tls', envoy: 'envoy-tls' } as const
const NOW = Date.parse('2026-06-01T00:00:00Z')

function check(set: CertificateSet): CheckResult {
  const tags = new Set([set.caCert, set.contourCert, set.contourKey, set.envoyCert, set.envoyKey].map((p) => p.split(':')[0]))
  const [tag] = [...tags]
  if (tags.size !== 1) return { ok: false, reason: 'not-signed-by-ca', detail: 'the Contour certificate is not signed by the CA' }
  if (tag === 'old') return { ok: false, reason: 'expired', detail: 'expired' }
  if (tag === 'due') return { ok: false, reason: 'renewal-due', detail: 'due for renewal' }
  return { ok: true, notAfter: new Date(NOW + 1e10), renewAt: new Date(NOW + 1e9), fingerprint: `fp-${tag}` }
}

interface SecretOpts {
  managed?: boolean
  state?: 'writing' | 'complete'
  writtenAt?: number
  token?: string
  history?: string[]
  rv?: string
  fingerprint?: string | null
}

function secret(role: SecretRole, tag: string, o: SecretOpts = {}): StoredSecret {
  const data: Record<string, Buffer> =
    role === 'ca' ? { 'ca.crt': Buffer.from(`${tag}:ca`) } : { 'tls.crt': Buffer.from(`${tag}:${role}-crt`), 'tls.key': Buffer.from(`${tag}:${role}-key`), 'ca.crt': Buffer.from(`${tag}:ca`) }
  const managed = o.managed ?? true
  const annotations: Record<string, string> = {}
  if (managed || o.fingerprint) {
    if (o.fingerprint !== null) annotations[SecretAnnotations.fingerprint] = o.fingerprint ?? `fp-${tag}`
    annotations[SecretAnnotations.rotateToken] = o.token ?? ''
    annotations[SecretAnnotations.rotateTokenHistory] = JSON.stringify(o.history ?? [])
    annotations[SecretAnnotations.writtenAt] = new Date(o.writtenAt ?? NOW - 3_600_000).toISOString()
    if (role === 'ca') annotations[SecretAnnotations.setState] = o.state ?? 'complete'
  }
  return {
    name: NAMES[role],
    type: role === 'ca' ? 'Opaque' : 'kubernetes.io/tls',
    data,
    labels: managed ? { [MANAGED_BY.key]: MANAGED_BY.value } : {},
    annotations,
    resourceVersion: o.rv ?? `${role}-1`,
  }
}

function all(tag: string, o: SecretOpts = {}): ReadSecrets {
  return { ca: secret('ca', tag, o), contour: secret('contour', tag, o), envoy: secret('envoy', tag, o) }
}

function plan(read: ReadSecrets, extra: { rotateToken?: string; round?: OwnRound; pendingForMs?: number } = {}): Plan {
  return planSecrets({ names: NAMES, read, check, rotateToken: extra.rotateToken ?? '', round: extra.round, now: NOW, pendingForMs: extra.pendingForMs ?? 0, takeoverAfterMs: 20_000 })
}

t.test('nothing there: a new set, created', async (t) => {
  t.match(plan({}), { kind: 'start-round', reason: 'missing', anchor: undefined })
})

t.test('a valid set is used, whoever made it', async (t) => {
  t.match(plan(all('a')), { kind: 'use', warnings: [] })
  t.match(plan(all('a', { managed: false })), { kind: 'use', warnings: [] })
  const withKey = { ...all('a', { managed: false }) }
  withKey.ca = { ...secret('ca', 'a', { managed: false }), data: { 'ca.crt': Buffer.from('a:ca'), 'tls.key': Buffer.from('a:secret') } }
  const p = plan(withKey)
  t.match(p, { kind: 'use', warnings: [/Secret contour-ca holds more than ca\.crt \(tls\.key\)/] })
  t.notMatch(JSON.stringify(p.kind === 'use' ? p.warnings : []), /a:secret/, 'names keys, never their content')
})

t.test('renewal window: ours is renewed with a guarded claim, a foreign one used with a warning', async (t) => {
  const ours = all('due')
  t.match(plan(ours), { kind: 'start-round', reason: 'renewal', anchor: { resourceVersion: 'ca-1' } })
  const theirs = plan(all('due', { managed: false }))
  t.match(theirs, { kind: 'use', warnings: [/due for renewal, but contour-ca, contour-tls, envoy-tls were not created by contour-tls-injector/] })
})

t.test('rotation: a new token rotates ours once; seen tokens and no token do not', async (t) => {
  t.match(plan(all('a', { token: 'r1' }), { rotateToken: 'r2' }), { kind: 'start-round', reason: 'rotation' })
  t.match(plan(all('a', { token: 'r1' }), { rotateToken: 'r1' }), { kind: 'use' })
  t.match(plan(all('a', { token: 'r2', history: ['r1', 'r2'] }), { rotateToken: 'r1' }), { kind: 'use' }, 'an older token is remembered')
  t.match(plan(all('a', { token: 'r1' }), { rotateToken: '' }), { kind: 'use' })
  t.match(plan(all('a', { managed: false }), { rotateToken: 'r1' }), { kind: 'use', warnings: [/rotation requested, but/] })
})

t.test('invalid or incomplete sets of ours are replaced; of others, refused naming the Secret', async (t) => {
  t.match(plan(all('old')), { kind: 'start-round', reason: 'invalid', detail: /expired/ })
  t.match(plan({ ca: secret('ca', 'a'), contour: secret('contour', 'a') }), { kind: 'start-round', reason: 'incomplete', anchor: { name: 'contour-ca' } })
  t.match(plan({ ca: secret('ca', 'a'), contour: secret('contour', 'b'), envoy: secret('envoy', 'c') }), { kind: 'start-round', reason: 'invalid', detail: /not-signed-by-ca/ })
  t.match(plan({ contour: secret('contour', 'old', { managed: false }) }), { kind: 'refuse', secret: 'contour-tls', detail: /Secret contour-tls was not created by contour-tls-injector/ })
  t.match(plan({ ca: secret('ca', 'a', { managed: false }) }), { kind: 'refuse', secret: 'contour-ca' })
  t.match(plan({ ...all('a'), envoy: secret('envoy', 'b', { managed: false }) }), { kind: 'refuse', secret: 'envoy-tls' })
})

t.test('a Secret of our set that lost its label is still ours (its fingerprint says so)', async (t) => {
  const read = { ...all('old'), envoy: secret('envoy', 'old', { managed: false, fingerprint: 'fp-old' }) }
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
  t.match(plan(claimed, { pendingForMs: 25_000 }), { kind: 'start-round', reason: 'takeover', anchor: { resourceVersion: 'ca-7' } })
  const longAgo = { ...claimed, ca: secret('ca', 'b', { state: 'writing', writtenAt: NOW - 3_600_000 }) }
  t.match(plan(longAgo), { kind: 'start-round', reason: 'takeover' }, 'a claim written long ago is stale at once')
  const complete = all('b', { state: 'writing', writtenAt: NOW - 1000 })
  t.match(plan(complete), { kind: 'wait' }, 'a finished-looking set is not used before its writer marks it complete')
  const foreignLeaf = { ...longAgo, envoy: secret('envoy', 'x', { managed: false }) }
  t.match(plan(foreignLeaf), { kind: 'refuse', secret: 'envoy-tls' }, 'a takeover still never overwrites a foreign Secret')
})

t.test('our own claim: write the leaves not yet ours, then finalize', async (t) => {
  const round = { fingerprint: 'fp-n', caResourceVersion: 'ca-9' }
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
