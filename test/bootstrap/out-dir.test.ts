// `--out-dir`: the layout, key modes, a set that validates, and never overwriting without --force.
import { mkdir, mkdtemp, readFile, stat, writeFile, readdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { ExitCodes } from '../../src/bootstrap/exit-codes.ts'
import { runBootstrapTls } from '../../src/bootstrap/main.ts'
import { checkCertificateSet, checkLeafPair } from '../../src/core/certs/check-set.ts'
import { recordingIO } from './fake-io.ts'

const LAYOUT = ['ca/ca.crt', 'contour/tls.crt', 'contour/tls.key', 'contour/ca.crt', 'envoy/tls.crt', 'envoy/tls.key', 'envoy/ca.crt']

async function readLayout(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const f of LAYOUT) out[f] = await readFile(join(dir, f), 'utf8')
  return out
}

t.test('writes the layout, keys 0600, and the set validates (no cluster needed)', async (t) => {
  const dir = join(await mkdtemp(join(tmpdir(), 'out-')), 'certs')
  const io = recordingIO({ POD_NAMESPACE: 'team-a' })
  const code = await runBootstrapTls([`--out-dir=${dir}`, '--extra-sans=contour.example.com'], io)
  t.equal(code, ExitCodes.OK, 'exit code', { stderr: io.err() })
  t.same(io.out().trim().split('\n'), LAYOUT.map((f) => join(dir, f)), 'prints the files it wrote')
  t.match(io.err(), /wrote a new set to .* for namespace team-a: fingerprint [0-9a-f]{16}/)
  for (const f of LAYOUT) {
    const mode = (await stat(join(dir, f))).mode & 0o777
    t.equal(mode, f.endsWith('.key') ? 0o600 : 0o644, `${f} mode ${mode.toString(8)}`)
  }
  const files = await readLayout(dir)
  const set = { caCert: files['ca/ca.crt'] ?? '', contourCert: files['contour/tls.crt'] ?? '', contourKey: files['contour/tls.key'] ?? '', envoyCert: files['envoy/tls.crt'] ?? '', envoyKey: files['envoy/tls.key'] ?? '' }
  t.match(checkCertificateSet(set), { ok: true })
  t.equal(files['contour/ca.crt'], set.caCert)
  t.equal(files['envoy/ca.crt'], set.caCert)
  t.match(checkLeafPair({ caCert: set.caCert, cert: set.envoyCert, key: set.envoyKey }, { usage: 'client' }), { ok: true })
  const { X509Certificate } = await import('node:crypto')
  t.match(new X509Certificate(set.contourCert).subjectAltName, /DNS:contour, .*DNS:contour\.team-a\.svc\.cluster\.local.*DNS:contour\.example\.com/)
  t.notMatch(io.err() + io.out(), /PRIVATE KEY/, 'no key material in the output')
  t.same((await readdir(join(dir, 'contour'))).sort(), ['ca.crt', 'tls.crt', 'tls.key'], 'no temporary files left behind')
})

t.test('refuses to overwrite existing files, and nothing is lost; --force replaces them', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'out-'))
  await mkdir(join(dir, 'envoy'))
  await writeFile(join(dir, 'envoy', 'tls.key'), 'precious', { mode: 0o600 })
  const io = recordingIO()
  const code = await runBootstrapTls([`--out-dir=${dir}`], io)
  t.equal(code, ExitCodes.OUT_DIR_EXISTS)
  t.match(io.err(), /error ERR_OUT_DIR_EXISTS: refusing to overwrite .*envoy\/tls\.key \(nothing was written; use --force/)
  t.equal(await readFile(join(dir, 'envoy', 'tls.key'), 'utf8'), 'precious', 'the existing key is untouched')
  t.same(await readdir(dir), ['envoy'], 'nothing else was written')

  const first = await runBootstrapTls([`--out-dir=${dir}`, '--force'], recordingIO())
  t.equal(first, ExitCodes.OK)
  const before = await readLayout(dir)
  t.not(before['envoy/tls.key'], 'precious')
  t.equal((await stat(join(dir, 'envoy', 'tls.key'))).mode & 0o777, 0o600)
  t.equal(await runBootstrapTls([`--out-dir=${dir}`], recordingIO()), ExitCodes.OUT_DIR_EXISTS, 'a second run without --force refuses')
  t.same(await readLayout(dir), before)
  t.equal(await runBootstrapTls([`--out-dir=${dir}`, '--force'], recordingIO()), ExitCodes.OK)
  t.not((await readLayout(dir))['ca/ca.crt'], before['ca/ca.crt'], '--force writes a fresh set')
})

t.test('bad issue options are configuration errors', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'out-'))
  const io = recordingIO()
  t.equal(await runBootstrapTls([`--out-dir=${dir}/x`, '--key-bits=1024'], io), ExitCodes.CONFIG)
  t.match(io.err(), /ERR_CERT_OPTIONS: certificate option keyBits/)
})
