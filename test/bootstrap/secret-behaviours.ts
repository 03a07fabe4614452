// The Kubernetes-facing behaviour of `bootstrap-tls --role=contour`, as cases that run against
// any Secrets API: the fake server now (ensure-secrets.test.ts), a real kube-apiserver in the
// end-to-end suite. Every case runs the whole command in-process (runBootstrapTls) through the
// real node:https Secret store, with a fake kubelet projecting the Secrets into its tls-dir.
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { runBootstrapTls, type BootstrapDeps } from '../../src/bootstrap/main.ts'
import { ExitCodes } from '../../src/bootstrap/exit-codes.ts'
import { MANAGED_BY, RequestAnnotations, SecretAnnotations, STAGED_KEYS, TRUST_ADDED_ANNOTATION } from '../../src/bootstrap/secret-model.ts'
import { startHandshaker } from '../sim/handshakes.ts'
import { joinCertificates, splitCertificates } from '../../src/core/certs/pem-bundle.ts'
import { checkCertificateSet } from '../../src/core/certs/check-set.ts'
import { fingerprintSet } from '../../src/core/certs/fingerprint.ts'
import { issueCertificateSet } from '../../src/core/certs/issue-set.ts'
import type { CertificateSet, IssueOptions } from '../../src/core/certs/types.ts'
import type { Fault } from '../helpers/fake-apiserver.ts'
import { expiredSet, freshSet, keyNeedles, renewalDueSet } from './cert-fixtures.ts'
import { startFakeKubelet } from './fake-kubelet.ts'
import { recordingIO } from './fake-io.ts'
import { decode, DEFAULT_NAMES, readSet, secretAdmin, secretFor, seedSet, type SecretAdmin } from './secret-admin.ts'

export interface SecretBehaviourTarget {
  /** Kubeconfig whose user may get, create and update Secrets in the namespaces below. */
  readonly kubeconfigPath: string
  /** A new, empty namespace for one case (a real apiserver must create it). */
  newNamespace(): Promise<string>
  /** Fault injection (the fake only); the cases that need it are skipped without it. */
  readonly faults?: { inject(fault: Fault): void; clear(): void; readonly serviceAccount: string }
  /** A kubeconfig whose user has no rights on Secrets in `namespace`, and who that is (`ns:name`). */
  forbidden?(namespace: string): Promise<{ kubeconfigPath: string; serviceAccount: string }>
}

interface RunResult {
  readonly code: number
  readonly err: string
  readonly out: string
  readonly tlsDir: string
}

interface RunOptions {
  readonly rotateToken?: string
  readonly colocated?: boolean
  readonly kubeconfigPath?: string
  readonly waitTimeout?: string
  readonly extraArgs?: readonly string[]
  /** Called instead of issueCertificateSet: lets a case act as a competing replica mid-run. */
  readonly issue?: (opts: IssueOptions) => Promise<CertificateSet>
  readonly kubelet?: boolean
  readonly deps?: BootstrapDeps
}

const FAST: BootstrapDeps = { pollMs: 20, secretPollMs: 40, progressEveryMs: 1000, takeoverAfterMs: 1000, requestTimeoutMs: 5000 }

export function defineSecretBehaviours(t: Test, target: SecretBehaviourTarget): void {
  const setup = async (): Promise<{ ns: string; admin: SecretAdmin; run: (o?: RunOptions) => Promise<RunResult> }> => {
    const ns = await target.newNamespace()
    const admin = secretAdmin(target.kubeconfigPath, ns)
    const run = async (o: RunOptions = {}): Promise<RunResult> => {
      const tlsDir = await mkdtemp(join(tmpdir(), 'bootstrap-tls-'))
      // Optional Secret volumes start as empty directories.
      for (const m of ['contour', 'ca', ...(o.colocated ? ['envoy'] : [])]) await mkdir(join(tlsDir, m))
      const mounts: Record<string, string> = { contour: DEFAULT_NAMES.contour, ca: DEFAULT_NAMES.ca, ...(o.colocated ? { envoy: DEFAULT_NAMES.envoy } : {}) }
      const kubelet = o.kubelet === false ? undefined : startFakeKubelet(admin, tlsDir, mounts)
      const io = recordingIO(o.rotateToken === undefined ? {} : { CONTOUR_TLS_ROTATE: o.rotateToken })
      const args = ['--role=contour', `--kubeconfig=${o.kubeconfigPath ?? target.kubeconfigPath}`, `--namespace=${ns}`, `--tls-dir=${tlsDir}`, `--wait-timeout=${o.waitTimeout ?? '20s'}`, ...(o.extraArgs ?? [])]
      try {
        const code = await runBootstrapTls(args, io, { ...FAST, ...o.deps, ...(o.issue ? { issue: o.issue } : {}) })
        return { code, err: io.err(), out: io.out(), tlsDir }
      } finally {
        await kubelet?.stop()
      }
    }
    return { ns, admin, run }
  }

  t.test('--secrets-only: creates the set and exits without waiting for any mount', async (t) => {
    const { admin, run } = await setup()
    const result = await run({ kubelet: false, waitTimeout: '2s', extraArgs: ['--secrets-only'] })
    t.equal(result.code, ExitCodes.OK, 'exit code', { stderr: result.err })
    await assertCoherentManaged(t, admin)
    t.match(result.err, /not waiting for mounts/)
  })

  t.test('no Secrets: creates all three from one fresh set; a restart changes nothing', async (t) => {
    const { admin, run } = await setup()
    const first = await run()
    t.equal(first.code, ExitCodes.OK, 'exit code', { stderr: first.err })
    const set = await assertCoherentManaged(t, admin)
    t.match(first.err, /created a new set/)
    await assertFilesMatch(t, first.tlsDir, set, false)
    const rvs = await resourceVersions(admin)
    const second = await run()
    t.equal(second.code, ExitCodes.OK, 'exit code', { stderr: second.err })
    t.match(second.err, /using the existing set/)
    t.same(await resourceVersions(admin), rvs, 'a plain restart writes nothing')
  })

  t.test('a valid set it did not create is used as it is (cert-manager, certgen)', async (t) => {
    const { admin, run } = await setup()
    const set = await freshSet('foreign', 1)
    await seedSet(admin, set, { managed: false })
    const rvs = await resourceVersions(admin)
    const r = await run({ rotateToken: 'please-rotate' })
    t.equal(r.code, ExitCodes.OK, 'exit code', { stderr: r.err })
    t.same(await resourceVersions(admin), rvs, 'nothing written, not even for a rotation request')
    t.match(r.err, /warning: rotation requested, but .* not created by contour-tls-injector/)
  })

  t.test('compact layout (leaves carry ca.crt, no CA Secret): creates only the CA Secret', async (t) => {
    const { admin, run } = await setup()
    const set = await freshSet('foreign', 2)
    await seedSet(admin, set, { managed: false, roles: ['contour', 'envoy'] })
    const before = await resourceVersions(admin)
    const r = await run()
    t.equal(r.code, ExitCodes.OK, 'exit code', { stderr: r.err })
    const after = await readSet(admin)
    t.equal(after.caCert, set.caCert)
    t.same(Object.keys(after.secrets.ca?.data ?? {}), ['ca.crt'], 'the CA Secret holds ca.crt only')
    t.equal(after.secrets.ca?.type, 'Opaque')
    t.equal(after.secrets.ca?.metadata?.labels?.[MANAGED_BY.key], MANAGED_BY.value)
    t.same([after.secrets.contour?.metadata?.resourceVersion, after.secrets.envoy?.metadata?.resourceVersion], [before.contour, before.envoy], 'leaves untouched')
  })

  t.test('refuses to overwrite an invalid Secret it did not create, and writes nothing', async (t) => {
    const { admin, run } = await setup()
    const old = await expiredSet('foreign', 3)
    await admin.put(secretFor('contour', old, { managed: false }))
    const r = await run()
    t.equal(r.code, ExitCodes.FOREIGN_SECRET, 'exit code', { stderr: r.err })
    t.match(r.err, /ERR_FOREIGN_SECRET: Secret contour-tls was not created by contour-tls-injector/)
    t.equal(await admin.get(DEFAULT_NAMES.ca), undefined, 'no CA Secret was created')
    t.equal(await admin.get(DEFAULT_NAMES.envoy), undefined, 'no Envoy Secret was created')
  })

  t.test('refuses when a foreign CA Secret would have to be replaced', async (t) => {
    const { admin, run } = await setup()
    await admin.put({ metadata: { name: DEFAULT_NAMES.ca }, type: 'Opaque', data: { 'ca.crt': Buffer.from('not a certificate').toString('base64') } })
    const r = await run()
    t.equal(r.code, ExitCodes.FOREIGN_SECRET, 'exit code', { stderr: r.err })
    t.match(r.err, /Secret contour-ca was not created/)
    t.equal(await admin.get(DEFAULT_NAMES.contour), undefined)
  })

  t.test('a managed set due for renewal is renewed in phases: next CA trusted and leaves staged, switched after the propagation delay', async (t) => {
    const { ns, admin, run } = await setup()
    const old = await renewalDueSet(ns)
    await seedSet(admin, old)
    const delay = ['--propagation-delay=1500ms']
    const r = await run({ extraArgs: delay })
    t.equal(r.code, ExitCodes.OK, 'exit code', { stderr: r.err })
    t.match(r.err, /trusting a next CA beside the current one and staging its leaves: the set is due for renewal/)
    const staged = await assertCoherentManaged(t, admin)
    t.same(splitCertificates(staged.caCert)[0], splitCertificates(old.caCert)[0], 'the old CA still signs the leaves and comes first')
    t.equal(splitCertificates(staged.caCert).length, 2, 'the next CA is trusted beside it')
    t.equal(staged.contourCert, old.contourCert, 'Contour keeps its leaf until the switch')
    t.equal(staged.secrets.ca?.metadata?.annotations?.[SecretAnnotations.phase], 'trusting')
    await assertFilesMatch(t, r.tlsDir, staged, false)
    const early = await run({ extraArgs: delay })
    t.equal(early.code, ExitCodes.OK)
    t.match(early.err, /using the existing set .*phase trusting.*next step due/, 'not before the propagation delay')
    await new Promise((resolve) => setTimeout(resolve, 1600))
    const switched = await run({ extraArgs: delay })
    t.equal(switched.code, ExitCodes.OK, 'exit code', { stderr: switched.err })
    t.match(switched.err, /switching both leaves to the next CA/)
    const after = await assertCoherentManaged(t, admin)
    const cas = splitCertificates(after.caCert)
    t.same(cas, [splitCertificates(staged.caCert)[1], splitCertificates(old.caCert)[0]], 'next CA first, the old one still trusted')
    t.not(after.contourCert, old.contourCert, 'a new Contour leaf')
    t.equal(after.secrets.ca?.metadata?.annotations?.[SecretAnnotations.phase], 'overlap')
    t.notOk(decode(after.secrets.contour, 'next-tls.crt'), 'nothing staged any more')
  })

  t.test('contour certgen\'s valid set and none of ours: migrated without an outage, old and new pods handshake both ways', async (t) => {
    const { ns, admin, run } = await setup()
    const certgen = await freshSet(`${ns}-certgen`, 1)
    const cg = { contour: 'contourcert', envoy: 'envoycert', ca: 'cacert' }
    // The compact layout on the leaves, the legacy cacert.pem beside them, as certgen's releases wrote them.
    await admin.put(secretFor('contour', certgen, { managed: false, names: cg }))
    await admin.put(secretFor('envoy', certgen, { managed: false, names: cg }))
    await admin.put({ metadata: { name: 'cacert', labels: { app: 'contour' } }, type: 'Opaque', data: { 'cacert.pem': Buffer.from(certgen.caCert).toString('base64') } })
    const delay = ['--propagation-delay=1500ms']
    const r = await run({ extraArgs: delay })
    t.equal(r.code, ExitCodes.OK, 'exit code', { stderr: r.err })
    t.match(r.err, /trusting a next CA beside the current one and staging its leaves: taking over contour certgen's set without an outage/)
    const staged = await assertCoherentManaged(t, admin)
    const [gca, ours] = splitCertificates(staged.caCert)
    t.equal(gca, splitCertificates(certgen.caCert)[0], 'certgen\'s CA comes first: new pods serve certgen\'s leaves until the switch')
    t.equal(staged.contourCert, certgen.contourCert)
    for (const [name, key] of [['contourcert', 'ca.crt'], ['envoycert', 'ca.crt'], ['cacert', 'cacert.pem']] as const) {
      const secret = await admin.get(name)
      t.same(splitCertificates(decode(secret, key) ?? ''), [gca, ours], `${name} ${key} trusts our CA too`)
      t.match(secret?.metadata?.annotations?.[TRUST_ADDED_ANNOTATION], /^\["[0-9a-f]{64}"\]$/, `${name} records what was added`)
      t.equal(secret?.metadata?.labels?.[MANAGED_BY.key], undefined, `${name} is still not ours`)
    }
    t.equal(decode(await admin.get('contourcert'), 'tls.key'), certgen.contourKey, 'certgen\'s leaves are untouched')
    await new Promise((resolve) => setTimeout(resolve, 1600))
    const switched = await run({ extraArgs: delay })
    t.match(switched.err, /switching both leaves to the next CA: taking over contour certgen's set/)
    const after = await assertCoherentManaged(t, admin)
    t.same(splitCertificates(after.caCert), [ours, gca], 'our CA signs the leaves; certgen\'s is still trusted')
    // Every pairing of an old pod (certgen's files, as certgen's Secrets now hold them) and a new one.
    const hs = await startHandshaker(1)
    t.teardown(() => hs.close())
    const trustOf = async (name: string, key: string) => decode(await admin.get(name), key) ?? ''
    const oldContour = { cert: certgen.contourCert, key: certgen.contourKey, ca: await trustOf('cacert', 'cacert.pem') }
    const oldEnvoy = { cert: certgen.envoyCert, key: certgen.envoyKey, ca: await trustOf('envoycert', 'ca.crt') }
    const newContour = { cert: after.contourCert, key: after.contourKey, ca: after.caCert }
    const newEnvoy = { cert: after.envoyCert, key: after.envoyKey, ca: after.caCert }
    for (const [label, server, client] of [['old Contour, new Envoy', oldContour, newEnvoy], ['new Contour, old Envoy', newContour, oldEnvoy], ['new, new', newContour, newEnvoy], ['old, old', oldContour, oldEnvoy]] as const) {
      const result = await hs.handshake(Date.now(), server, client)
      t.ok(result.ok, `${label}: mutual TLS 1.3 both ways (${JSON.stringify(result)})`)
    }
  })

  t.test('a foreign set inside the renewal window is used, with a warning', async (t) => {
    const { admin, run } = await setup()
    await seedSet(admin, await renewalDueSet('foreign', 4), { managed: false })
    const rvs = await resourceVersions(admin)
    const r = await run()
    t.equal(r.code, ExitCodes.OK, 'exit code', { stderr: r.err })
    t.match(r.err, /warning: the set is due for renewal, but/)
    t.same(await resourceVersions(admin), rvs)
  })

  t.test('409 AlreadyExists on create: adopts the winner\'s set', async (t) => {
    const { ns, admin, run } = await setup()
    const winner = await freshSet(ns, 5)
    const r = await run({
      issue: async (opts) => {
        await seedSet(admin, winner) // another replica finishes first, between our read and our create
        return issueCertificateSet(opts)
      },
    })
    t.equal(r.code, ExitCodes.OK, 'exit code', { stderr: r.err })
    t.match(r.err, /already exists; reading it again/)
    t.match(r.err, /adopted another replica's set/)
    const set = await assertCoherentManaged(t, admin)
    t.equal(set.caCert, winner.caCert, 'the winner\'s set is kept')
    await assertFilesMatch(t, r.tlsDir, winner, false)
  })

  t.test('409 Conflict on the guarded update: adopts the set written meanwhile', async (t) => {
    const { ns, admin, run } = await setup()
    await seedSet(admin, await renewalDueSet(ns, 1))
    const winner = await freshSet(ns, 6)
    const r = await run({
      issue: async (opts) => {
        await seedSet(admin, winner)
        return issueCertificateSet(opts)
      },
    })
    t.equal(r.code, ExitCodes.OK, 'exit code', { stderr: r.err })
    t.match(r.err, /replace Secret contour-ca: changed meanwhile/)
    t.equal((await assertCoherentManaged(t, admin)).caCert, winner.caCert)
  })

  t.test('partial states always end as one coherent set', async (t) => {
    const cases: Array<[string, (admin: SecretAdmin, ns: string) => Promise<void>]> = [
      ['CA and Contour from one set, Envoy missing', async (admin, ns) => seedSet(admin, await freshSet(ns, 7), { roles: ['ca', 'contour'] })],
      ['only the CA', async (admin, ns) => seedSet(admin, await freshSet(ns, 8), { roles: ['ca'] })],
      ['leaves only, from different sets', async (admin, ns) => {
        await seedSet(admin, await freshSet(ns, 9), { roles: ['contour'] })
        await seedSet(admin, await freshSet(ns, 10), { roles: ['envoy'] })
      }],
      ['three Secrets holding three different sets', async (admin, ns) => {
        await seedSet(admin, await freshSet(ns, 11), { roles: ['ca'] })
        await seedSet(admin, await freshSet(ns, 12), { roles: ['contour'] })
        await seedSet(admin, await freshSet(ns, 13), { roles: ['envoy'] })
      }],
      ['a writer that stopped an hour ago after claiming the CA Secret (taken over at once)', async (admin, ns) => {
        await seedSet(admin, await freshSet(ns, 14))
        await seedSet(admin, await freshSet(ns, 15), { roles: ['ca'], caState: 'writing', writtenAt: new Date(Date.now() - 3_600_000) })
      }],
      ['a writer that stopped just now after writing one leaf (taken over after the grace time)', async (admin, ns) => {
        await seedSet(admin, await freshSet(ns, 14))
        await seedSet(admin, await freshSet(ns, 15), { roles: ['ca', 'contour'], caState: 'writing' })
      }],
      ['a writer that stopped just before marking its set complete', async (admin, ns) => {
        await seedSet(admin, await freshSet(ns, 17), { caState: 'writing', writtenAt: new Date(Date.now() - 3_600_000) })
      }],
      ['an expired managed set', async (admin, ns) => seedSet(admin, await expiredSet(ns))],
    ]
    for (const [name, stage] of cases) {
      await t.test(name, async (t) => {
        const { ns, admin, run } = await setup()
        await stage(admin, ns)
        const r = await run()
        t.equal(r.code, ExitCodes.OK, 'exit code', { stderr: r.err })
        const set = await assertCoherentManaged(t, admin)
        await assertFilesMatch(t, r.tlsDir, set, false)
      })
    }
  })

  t.test('rotation: a new token stages a next CA once; the same token, no token or an old token change nothing', async (t) => {
    const { admin, run } = await setup()
    t.equal((await run()).code, ExitCodes.OK)
    const initial = await readSet(admin)
    const rotated = await run({ rotateToken: 'r1' })
    t.equal(rotated.code, ExitCodes.OK, 'exit code', { stderr: rotated.err })
    t.match(rotated.err, /trusting a next CA beside the current one and staging its leaves: rotation requested/)
    const afterR1 = await assertCoherentManaged(t, admin)
    t.same(splitCertificates(afterR1.caCert)[0], splitCertificates(initial.caCert)[0], 'the current CA stays first until the switch')
    t.equal(splitCertificates(afterR1.caCert).length, 2, 'a next CA is trusted')
    t.equal(afterR1.secrets.ca?.metadata?.annotations?.[SecretAnnotations.rotateToken], 'r1')
    const rvs = await resourceVersions(admin)
    for (const token of ['r1', '', 'r1']) {
      const again = await run({ rotateToken: token })
      t.equal(again.code, ExitCodes.OK, 'exit code', { stderr: again.err })
      t.same(await resourceVersions(admin), rvs, `token "${token}" changes nothing`)
    }
    t.equal((await run({ rotateToken: 'r2' })).code, ExitCodes.OK)
    const afterR2 = await readSet(admin)
    const r2cas = splitCertificates(afterR2.caCert)
    t.equal(r2cas.length, 2, 'r2 restages: the unused next CA of r1 is dropped')
    t.not(r2cas[1], splitCertificates(afterR1.caCert)[1], 'r2 stages another next CA')
    const rvs2 = await resourceVersions(admin)
    t.equal((await run({ rotateToken: 'r1' })).code, ExitCodes.OK)
    t.same(await resourceVersions(admin), rvs2, 'an older token (a pod of the previous rollout) does not flip the set back')
  })

  t.test('the CA Secret\'s rotate and revoke annotations: each token honoured once', async (t) => {
    const { admin, run } = await setup()
    t.equal((await run()).code, ExitCodes.OK)
    const initial = await readSet(admin)
    const annotate = async (key: string, value: string): Promise<void> => {
      const ca = await admin.get(DEFAULT_NAMES.ca)
      await admin.put({ ...ca, metadata: { ...ca?.metadata, annotations: { ...ca?.metadata?.annotations, [key]: value } } })
    }
    await annotate(RequestAnnotations.rotate, 'ca-r1')
    const rotated = await run()
    t.match(rotated.err, /staging its leaves: rotation requested \(rotate token "ca-r1"/)
    t.equal(splitCertificates((await readSet(admin)).caCert).length, 2, 'a next CA is trusted beside the current one')
    const rvs = await resourceVersions(admin)
    t.equal((await run()).code, ExitCodes.OK)
    t.same(await resourceVersions(admin), rvs, 'the same token again changes nothing')
    await annotate(RequestAnnotations.revoke, 'incident-7')
    const revoked = await run()
    t.equal(revoked.code, ExitCodes.OK, 'exit code', { stderr: revoked.err })
    t.match(revoked.err, /writing a new set: revocation requested/)
    const after = await assertCoherentManaged(t, admin)
    t.equal(splitCertificates(after.caCert).length, 1, 'only the new CA is trusted: the old one is dropped at once')
    t.notOk(splitCertificates(initial.caCert).some((pem) => splitCertificates(after.caCert).includes(pem)), 'no old CA is left')
    t.equal(after.secrets.ca?.metadata?.annotations?.[SecretAnnotations.revokeTokenHistory], JSON.stringify(['incident-7']))
    await assertFilesMatch(t, revoked.tlsDir, after, false)
    const rvs2 = await resourceVersions(admin)
    t.equal((await run()).code, ExitCodes.OK)
    t.same(await resourceVersions(admin), rvs2, 'a revoke token is honoured once')
  })

  t.test('co-located pod: waits for the envoy mount too when it exists', async (t) => {
    const { admin, run } = await setup()
    const r = await run({ colocated: true })
    t.equal(r.code, ExitCodes.OK, 'exit code', { stderr: r.err })
    t.match(r.err, /envoy exists: co-located pod/)
    await assertFilesMatch(t, r.tlsDir, await assertCoherentManaged(t, admin), true)
  })

  t.test('files that never arrive: ERR_WAIT_TIMEOUT after --wait-timeout, Secrets written', async (t) => {
    const { admin, run } = await setup()
    const r = await run({ kubelet: false, waitTimeout: '1s' })
    t.equal(r.code, ExitCodes.WAIT_TIMEOUT, 'exit code', { stderr: r.err })
    t.match(r.err, /error ERR_WAIT_TIMEOUT: timed out after 1\.0s waiting for the mounted Secrets/)
    await assertCoherentManaged(t, admin)
  })

  t.test('10 replicas at once on empty Secrets converge on ONE set, written once', async (t) => {
    await concurrentRuns(t, setup, async () => undefined, /created a new set/)
  })

  t.test('10 replicas at once renewing the same set converge on ONE new set', async (t) => {
    await concurrentRuns(t, setup, async (admin, ns) => seedSet(admin, await renewalDueSet(ns, 2)), /staged the next leaves beside the set/)
  })

  t.test('10 replicas at once on a partial state converge on ONE set', async (t) => {
    await concurrentRuns(t, setup, async (admin, ns) => seedSet(admin, await freshSet(ns, 16), { roles: ['ca', 'envoy'] }), /created a new set/)
  })

  t.test('no key material in any output of a full run', async (t) => {
    const { ns, admin, run } = await setup()
    await seedSet(admin, await renewalDueSet(ns, 3))
    const r = await run({ colocated: true })
    t.equal(r.code, ExitCodes.OK, 'exit code', { stderr: r.err })
    const set = await readSet(admin)
    const output = r.err + r.out
    t.notMatch(output, /PRIVATE KEY/)
    for (const needle of [...keyNeedles(set), ...keyNeedles(await renewalDueSet(ns, 3))]) {
      t.notOk(output.includes(needle), 'no base64 or PEM body of a key')
    }
    t.ok(output.split('\n').filter(Boolean).every((l) => l.startsWith('bootstrap-tls: ')), 'every line is prefixed')
  })

  if (target.forbidden) {
    const forbidden = target.forbidden
    t.test('403 (real RBAC): ends at once naming verb, resource, namespace and service account', async (t) => {
      const { ns, run } = await setup()
      const who = await forbidden(ns)
      const r = await run({ kubeconfigPath: who.kubeconfigPath })
      t.equal(r.code, ExitCodes.FORBIDDEN, 'exit code', { stderr: r.err })
      t.match(r.err, new RegExp(`ERR_FORBIDDEN: get Secret \\S+ in namespace ${ns}: 403 Forbidden: service account "${who.serviceAccount}" may not "get" resource "secrets" in namespace "${ns}"`))
    })
  }

  const faults = target.faults
  if (faults) {
    for (const verb of ['get', 'create', 'update'] as const) {
      t.test(`403 on ${verb}: ends at once naming the verb, resource, namespace and service account`, async (t) => {
        const { ns, admin, run } = await setup()
        if (verb === 'update') await seedSet(admin, await renewalDueSet(ns, 4))
        faults.inject({ verb, namespace: ns, status: 403 })
        t.teardown(() => faults.clear())
        const started = Date.now()
        const r = await run()
        t.equal(r.code, ExitCodes.FORBIDDEN, 'exit code', { stderr: r.err })
        t.ok(Date.now() - started < 5000, 'no retrying')
        t.match(r.err, `403 Forbidden: service account "${faults.serviceAccount}" may not "${verb}" resource "secrets" in namespace "${ns}"`)
        t.match(r.err, /ERR_FORBIDDEN/)
      })
    }

    t.test('401: ends at once with ERR_UNAUTHORIZED', async (t) => {
      const { ns, run } = await setup()
      const dir = await mkdtemp(join(tmpdir(), 'kubeconfig-'))
      const kubeconfig = join(dir, 'kubeconfig')
      const original = JSON.parse(await readFile(target.kubeconfigPath, 'utf8')) as { users: Array<{ user: { token: string } }> }
      for (const u of original.users) u.user.token = 'not-a-valid-token'
      await writeFile(kubeconfig, JSON.stringify(original))
      const r = await run({ kubeconfigPath: kubeconfig })
      t.equal(r.code, ExitCodes.FORBIDDEN, 'exit code', { stderr: r.err })
      t.match(r.err, new RegExp(`ERR_UNAUTHORIZED: get Secret \\S+ in namespace ${ns}: 401`))
    })

    t.test('5xx, 429 and dropped connections are retried with backoff', async (t) => {
      const { ns, admin, run } = await setup()
      faults.inject({ verb: 'get', namespace: ns, name: DEFAULT_NAMES.ca, status: 503, times: 2 })
      faults.inject({ verb: 'get', namespace: ns, name: DEFAULT_NAMES.envoy, status: 'reset', times: 1 })
      faults.inject({ verb: 'create', namespace: ns, status: 429, times: 1, retryAfterSeconds: 1 })
      faults.inject({ verb: 'create', namespace: ns, status: 500, times: 2 })
      t.teardown(() => faults.clear())
      const r = await run()
      t.equal(r.code, ExitCodes.OK, 'exit code', { stderr: r.err })
      t.match(r.err, /get Secret contour-ca in namespace \S+: 503 .*retrying in/)
      t.match(r.err, /ECONNRESET|UND_ERR_SOCKET|timed out/)
      t.match(r.err, /create Secret \S+ in namespace \S+: 429/)
      await assertCoherentManaged(t, admin)
    })

    t.test('an API that stays unavailable ends with ERR_API_UNAVAILABLE at the wait timeout', async (t) => {
      const { ns, run } = await setup()
      faults.inject({ verb: 'get', namespace: ns, status: 503 })
      t.teardown(() => faults.clear())
      const started = Date.now()
      const r = await run({ waitTimeout: '2s' })
      t.equal(r.code, ExitCodes.API_UNAVAILABLE, 'exit code', { stderr: r.err })
      t.match(r.err, /ERR_API_UNAVAILABLE: the Kubernetes API stayed unavailable until the wait timeout \(get Secret \S+: \d+ attempts; last: get Secret \S+ in namespace \S+: 503/)
      t.ok(Date.now() - started < 4000, 'within the wait timeout')
    })
  }
}

async function concurrentRuns(
  t: Test,
  setup: () => Promise<{ ns: string; admin: SecretAdmin; run: (o?: RunOptions) => Promise<RunResult> }>,
  stage: (admin: SecretAdmin, ns: string) => Promise<void>,
  writerLine: RegExp,
): Promise<void> {
  const { ns, admin, run } = await setup()
  await stage(admin, ns)
  // Ten replicas in one process compete for CPU: a generous takeover time keeps a slow winner
  // from being taken for a dead one (which would be safe, but two writers instead of one).
  const results = await Promise.all(Array.from({ length: 10 }, () => run({ waitTimeout: '60s', deps: { takeoverAfterMs: 15_000 } })))
  for (const r of results) t.equal(r.code, ExitCodes.OK, 'exit code', { stderr: r.err })
  const set = await assertCoherentManaged(t, admin)
  const fingerprint = fingerprintSet(set).slice(0, 16)
  t.equal(results.filter((r) => writerLine.test(r.err)).length, 1, 'exactly one replica wrote the set')
  for (const r of results) {
    t.match(r.err, new RegExp(`set ${fingerprint} in Secrets`), 'every replica ends on the same set')
    await assertFilesMatch(t, r.tlsDir, set, false)
  }
}

/**
 * The three Secrets form one valid set (or, while next leaves are staged, a set whose staged leaves
 * are valid against the next CA of the bundle), carry our label and matching annotations, and have
 * the right shape.
 */
async function assertCoherentManaged(t: Test, admin: SecretAdmin): Promise<Awaited<ReturnType<typeof readSet>>> {
  const set = await readSet(admin)
  const stagedCert = decode(set.secrets.contour, STAGED_KEYS.cert)
  const check = checkCertificateSet(set)
  const valid = check.ok || (stagedCert !== undefined && check.reason === 'renewal-due')
  t.ok(valid, `the Secrets hold one valid set${check.ok ? '' : ` (${check.reason}: ${check.detail})`}`)
  if (stagedCert !== undefined) {
    const cas = splitCertificates(set.caCert)
    const staged = { caCert: joinCertificates([...cas.slice(1), cas[0] as string]), contourCert: stagedCert, contourKey: decode(set.secrets.contour, STAGED_KEYS.key) ?? '', envoyCert: decode(set.secrets.envoy, STAGED_KEYS.cert) ?? '', envoyKey: decode(set.secrets.envoy, STAGED_KEYS.key) ?? '' }
    const stagedCheck = checkCertificateSet(staged)
    t.ok(stagedCheck.ok, `the staged leaves verify against the next CA${stagedCheck.ok ? '' : ` (${stagedCheck.reason}: ${stagedCheck.detail})`}`)
  }
  const fingerprint = fingerprintSet(set)
  for (const role of ['ca', 'contour', 'envoy'] as const) {
    const s = set.secrets[role]
    t.equal(s?.metadata?.labels?.[MANAGED_BY.key], MANAGED_BY.value, `${role}: managed-by label`)
    t.equal(s?.metadata?.annotations?.[SecretAnnotations.fingerprint], fingerprint, `${role}: fingerprint annotation`)
    t.ok(s?.metadata?.annotations?.[SecretAnnotations.notAfter], `${role}: not-after annotation`)
    t.ok(SecretAnnotations.rotateToken in (s?.metadata?.annotations ?? {}), `${role}: rotate-token annotation`)
  }
  t.equal(set.secrets.ca?.metadata?.annotations?.[SecretAnnotations.setState], 'complete', 'the CA Secret marks the set complete')
  t.equal(set.secrets.ca?.type, 'Opaque')
  t.same(Object.keys(set.secrets.ca?.data ?? {}), ['ca.crt'], 'the CA Secret holds ca.crt only, never a key')
  for (const role of ['contour', 'envoy'] as const) {
    t.equal(set.secrets[role]?.type, 'kubernetes.io/tls')
    const keys = ['ca.crt', 'tls.crt', 'tls.key', ...(stagedCert !== undefined ? [STAGED_KEYS.cert, STAGED_KEYS.key] : [])].sort()
    t.same(Object.keys(set.secrets[role]?.data ?? {}).sort(), keys)
    t.equal(set.secrets[role]?.data?.['ca.crt'], set.secrets.ca?.data?.['ca.crt'], `${role}: ca.crt is the set's CA`)
  }
  return set
}

async function assertFilesMatch(t: Test, tlsDir: string, set: CertificateSet, withEnvoy: boolean): Promise<void> {
  t.equal(await readFile(join(tlsDir, 'ca', 'ca.crt'), 'utf8'), set.caCert, 'ca/ca.crt')
  t.equal(await readFile(join(tlsDir, 'contour', 'tls.crt'), 'utf8'), set.contourCert, 'contour/tls.crt')
  t.equal(await readFile(join(tlsDir, 'contour', 'tls.key'), 'utf8'), set.contourKey, 'contour/tls.key')
  if (withEnvoy) t.equal(await readFile(join(tlsDir, 'envoy', 'tls.key'), 'utf8'), set.envoyKey, 'envoy/tls.key')
}

async function resourceVersions(admin: SecretAdmin): Promise<Record<string, string | undefined>> {
  const out: Record<string, string | undefined> = {}
  for (const role of ['ca', 'contour', 'envoy'] as const) out[role] = (await admin.get(DEFAULT_NAMES[role]))?.metadata?.resourceVersion
  return out
}
