// `bootstrap-tls --probe`, the sidecar's startup probe: one look at kubelet-style mounts (..data
// symlinks), exit 0 for a valid set and NOT_READY with one line otherwise. In process for the
// cases, and once as a subprocess of the real CLI with the heavy modules forbidden.
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import type { Test } from 'tap'
import { ExitCodes } from '../../src/bootstrap/exit-codes.ts'
import { runBootstrapTls } from '../../src/bootstrap/main.ts'
import type { CertificateSet } from '../../src/core/certs/types.ts'
import { expiredSet, freshSet, renewalDueSet } from './cert-fixtures.ts'
import { projectAtomically } from './fake-kubelet.ts'
import { recordingIO } from './fake-io.ts'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const NODE = join(ROOT, 'node_modules/.bin/node')
const FORBID = join(ROOT, 'test/bootstrap/fixtures/forbid-heavy-modules.mjs')

interface Mounts {
  contour?: CertificateSet
  envoy?: CertificateSet
  ca?: CertificateSet
}

/** The three Secret volumes as the kubelet fills them: each leaf Secret carries the bundle too. */
async function mounted(m: Mounts): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'probe-'))
  if (m.contour) await projectAtomically(join(dir, 'contour'), { 'tls.crt': m.contour.contourCert, 'tls.key': m.contour.contourKey, 'ca.crt': m.contour.caCert })
  if (m.envoy) await projectAtomically(join(dir, 'envoy'), { 'tls.crt': m.envoy.envoyCert, 'tls.key': m.envoy.envoyKey, 'ca.crt': m.envoy.caCert })
  if (m.ca) await projectAtomically(join(dir, 'ca'), { 'ca.crt': m.ca.caCert })
  return dir
}

async function probe(args: string[]): Promise<{ code: number; err: string; out: string }> {
  const io = recordingIO()
  const code = await runBootstrapTls(['--probe', ...args], io)
  return { code, err: io.err(), out: io.out() }
}

function notReady(t: Test, r: { code: number; err: string }, detail: RegExp, what: string): void {
  t.equal(r.code, ExitCodes.NOT_READY, `${what}: exit code NOT_READY`, { stderr: r.err })
  t.equal(r.err.split('\n').filter(Boolean).length, 1, `${what}: one line`)
  t.match(r.err, /^bootstrap-tls: error ERR_NOT_READY: /, `${what}: the stable code`)
  t.match(r.err, detail, `${what}: says what is missing`)
}

t.test('a valid set: exit 0, silent', async (t) => {
  const set = await freshSet('probe')
  const dir = await mounted({ contour: set, ca: set })
  const r = await probe([`--tls-dir=${dir}`])
  t.equal(r.code, ExitCodes.OK, 'exit code', { stderr: r.err })
  t.equal(r.err + r.out, '', 'nothing printed')
  const due = await renewalDueSet('probe')
  const dueDir = await mounted({ contour: due, ca: due })
  const dueRun = await probe([`--tls-dir=${dueDir}`])
  t.equal(dueRun.code, ExitCodes.OK, 'a set due for renewal still works: the sidecar renews it', { stderr: dueRun.err })
})

t.test('what is missing or wrong, in one line', async (t) => {
  const [set, other, expired] = await Promise.all([freshSet('probe'), freshSet('probe', 1), expiredSet('probe')])
  notReady(t, await probe([`--tls-dir=${await mounted({})}`]), /contour does not exist \(is the Secret volume mounted\?\)/, 'no mounts')
  notReady(t, await probe([`--tls-dir=${await mounted({ contour: set })}`]), /ca does not exist/, 'no CA mount')
  notReady(t, await probe([`--tls-dir=${await mounted({ contour: expired, ca: expired })}`]), /not a valid Contour pair yet \(expired/, 'expired')
  // The kubelet refreshed the CA volume but not the leaf's yet: both bundles must agree.
  notReady(t, await probe([`--tls-dir=${await mounted({ contour: set, ca: other })}`]), /hold different CA bundles/, 'bundles differ')
  // A leaf Secret whose own ca.crt matches the CA mount, but whose leaf another CA signed.
  const dir = await mounted({ ca: other })
  await projectAtomically(join(dir, 'contour'), { 'tls.crt': set.contourCert, 'tls.key': set.contourKey, 'ca.crt': other.caCert })
  notReady(t, await probe([`--tls-dir=${dir}`]), /not a valid Contour pair yet \(not-signed-by-ca/, 'signed by another CA')
  const swapped = await mounted({ ca: set })
  await projectAtomically(join(swapped, 'contour'), { 'tls.crt': set.envoyCert, 'tls.key': set.envoyKey, 'ca.crt': set.caCert })
  notReady(t, await probe([`--tls-dir=${swapped}`]), /not a valid Contour pair yet \(wrong-usage|missing-san/, 'Envoy\'s pair in Contour\'s mount')
})

t.test('co-located: the Envoy mount too, with --colocated or whenever it exists', async (t) => {
  const [set, other] = await Promise.all([freshSet('probe'), freshSet('probe', 1)])
  const withoutEnvoy = await mounted({ contour: set, ca: set })
  notReady(t, await probe([`--tls-dir=${withoutEnvoy}`, '--colocated']), /envoy does not exist/, '--colocated without an Envoy mount')
  const full = await mounted({ contour: set, envoy: set, ca: set })
  t.equal((await probe([`--tls-dir=${full}`, '--colocated'])).code, ExitCodes.OK, 'all three mounts valid')
  const staleEnvoy = await mounted({ contour: set, envoy: other, ca: set })
  notReady(t, await probe([`--tls-dir=${staleEnvoy}`]), /envoy\/ca\.crt and .*hold different CA bundles/, 'an Envoy mount that exists is checked without --colocated')
  await rm(join(staleEnvoy, 'envoy'), { recursive: true })
  t.equal((await probe([`--tls-dir=${staleEnvoy}`])).code, ExitCodes.OK, 'no Envoy mount, not co-located: Contour\'s pair is enough')
})

t.test('--probe takes no role: usage error', async (t) => {
  t.equal((await probe(['--role=contour'])).code, ExitCodes.USAGE)
  t.equal((await probe(['--out-dir=/x'])).code, ExitCodes.USAGE)
})

t.test('the real CLI: no client-node, no node-forge, quick', async (t) => {
  const set = await freshSet('probe')
  const dir = await mounted({ contour: set, envoy: set, ca: set })
  const runs: number[] = []
  for (const expectCode of [ExitCodes.OK, ExitCodes.NOT_READY]) {
    const started = Date.now()
    const r = await new Promise<{ code: number | null; stderr: string }>((resolvePromise, reject) => {
      const args = ['--import', FORBID, join(ROOT, 'src/cli.ts'), 'bootstrap-tls', '--probe', `--tls-dir=${expectCode === ExitCodes.OK ? dir : join(dir, 'nothing')}`, '--colocated']
      const child = spawn(NODE, args, { env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'ignore', 'pipe'] })
      let stderr = ''
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
      child.on('error', reject)
      child.on('close', (code) => resolvePromise({ code, stderr }))
    })
    runs.push(Date.now() - started)
    t.equal(r.code, expectCode, 'exit code', { stderr: r.stderr })
    t.notMatch(r.stderr, /forbidden import/)
  }
  t.comment(`--probe from source (TypeScript stripped at load): ${runs.join(' ms, ')} ms including node start-up`)
})
