// Waiting for mounted files: late files, the kubelet's `..data` swap, half-written files, an older
// set until the swap, the timeout, and what the Envoy role accepts as a pair.
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { systemClock } from '../../src/bootstrap/clock.ts'
import { readMount } from '../../src/bootstrap/read-mount.ts'
import { envoyPairProbe, exactMaterialProbe, waitForFiles, type Probe } from '../../src/bootstrap/wait-for-files.ts'
import type { CertificateSet } from '../../src/core/certs/types.ts'
import { expiredSet, freshSet, renewalDueSet } from './cert-fixtures.ts'
import { projectAtomically } from './fake-kubelet.ts'

const [setA, setB] = await Promise.all([freshSet('wait', 1), freshSet('wait', 2)])

function leafFiles(set: CertificateSet, role: 'contour' | 'envoy'): Record<string, Buffer> {
  return {
    'tls.crt': Buffer.from(role === 'contour' ? set.contourCert : set.envoyCert),
    'tls.key': Buffer.from(role === 'contour' ? set.contourKey : set.envoyKey),
    'ca.crt': Buffer.from(set.caCert),
  }
}

function expected(dir: string, set: CertificateSet): Parameters<typeof exactMaterialProbe>[0] {
  return [
    { dir: join(dir, 'contour'), secretName: 'contour-tls', data: leafFiles(set, 'contour') },
    { dir: join(dir, 'ca'), secretName: 'contour-ca', data: { 'ca.crt': Buffer.from(set.caCert) } },
  ]
}

async function wait(probe: Probe, timeoutMs = 3000): Promise<{ lines: string[]; ms: number; error?: { code?: string; message: string } }> {
  const lines: string[] = []
  const started = Date.now()
  try {
    await waitForFiles('the test files', probe, { clock: systemClock, deadline: Date.now() + timeoutMs, timeoutMs, log: (l) => lines.push(l), pollMs: 10, progressEveryMs: 100 })
    return { lines, ms: Date.now() - started }
  } catch (err) {
    return { lines, ms: Date.now() - started, error: err as { code?: string; message: string } }
  }
}

const later = (ms: number, fn: () => Promise<void>): Promise<void> => new Promise((resolve, reject) => setTimeout(() => fn().then(resolve, reject), ms))

t.test('files that appear late (an optional volume filled on a later sync)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'wait-'))
  await mkdir(join(dir, 'contour'))
  await mkdir(join(dir, 'ca'))
  const fill = later(250, async () => {
    await projectAtomically(join(dir, 'contour'), leafFiles(setA, 'contour'))
    await projectAtomically(join(dir, 'ca'), { 'ca.crt': setA.caCert })
  })
  const r = await wait(exactMaterialProbe(expected(dir, setA)))
  await fill
  t.notOk(r.error)
  t.ok(r.ms >= 240, 'did not finish before the files were there')
  t.match(r.lines.join('\n'), /waiting for the test files: .*contour\/ca\.crt does not exist yet \(0\.\ds of 3\.0s\)/)
  t.match(r.lines.at(-1), /the test files: ready after/)
})

t.test('an older set until the kubelet swaps ..data to the new one', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'wait-'))
  await projectAtomically(join(dir, 'contour'), leafFiles(setA, 'contour'))
  await projectAtomically(join(dir, 'ca'), { 'ca.crt': setA.caCert })
  let swapped = 0
  const swap = later(200, async () => {
    await projectAtomically(join(dir, 'ca'), { 'ca.crt': setB.caCert })
    await projectAtomically(join(dir, 'contour'), leafFiles(setB, 'contour'))
    swapped = Date.now()
  })
  const r = await wait(exactMaterialProbe(expected(dir, setB)))
  await swap
  t.notOk(r.error)
  t.ok(Date.now() >= swapped && swapped > 0, 'ready only after the swap')
  t.match(r.lines.join('\n'), /does not hold the content of Secret (contour-tls|contour-ca) yet/)
})

t.test('half-written files are never taken for finished ones', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'wait-'))
  await mkdir(join(dir, 'contour'))
  await mkdir(join(dir, 'ca'))
  const files = leafFiles(setA, 'contour')
  await writeFile(join(dir, 'ca', 'ca.crt'), setA.caCert)
  for (const [name, content] of Object.entries(files)) await writeFile(join(dir, 'contour', name), content.subarray(0, content.length >> 1))
  const finish = later(150, async () => {
    for (const [name, content] of Object.entries(files)) await writeFile(join(dir, 'contour', name), content)
  })
  const r = await wait(exactMaterialProbe(expected(dir, setA)))
  await finish
  t.notOk(r.error)
  t.ok(r.ms >= 140)

  // The Envoy role has nothing to compare with: a half-written key must fail its check.
  const envoyDir = await mkdtemp(join(tmpdir(), 'wait-'))
  await projectAtomically(join(envoyDir, 'ca'), { 'ca.crt': setA.caCert })
  await mkdir(join(envoyDir, 'envoy'))
  await writeFile(join(envoyDir, 'envoy', 'tls.crt'), setA.envoyCert)
  await writeFile(join(envoyDir, 'envoy', 'tls.key'), setA.envoyKey.slice(0, 200))
  const probe = envoyPairProbe(envoyDir, () => new Date())
  t.match(await probe(), { ready: false, detail: /not a valid Envoy pair yet \(malformed/ })
  await writeFile(join(envoyDir, 'envoy', 'tls.key'), setA.envoyKey)
  t.match(await probe(), { ready: true })
})

t.test('the timeout: ERR_WAIT_TIMEOUT naming what was missing, with progress on the way', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'wait-'))
  await projectAtomically(join(dir, 'contour'), leafFiles(setA, 'contour'))
  await projectAtomically(join(dir, 'ca'), { 'ca.crt': setA.caCert })
  const r = await wait(exactMaterialProbe(expected(dir, setB)), 400)
  t.equal(r.error?.code, 'ERR_WAIT_TIMEOUT')
  t.match(r.error?.message, /timed out after 0\.4s waiting for the test files: .* does not hold the content of Secret/)
  t.ok(r.ms >= 390 && r.ms < 1500, `ended at the deadline (${r.ms} ms)`)
  t.ok(r.lines.filter((l) => l.startsWith('waiting for')).length >= 2, 'progress was printed more than once')
})

t.test('envoy pair: what is accepted and what is not', async (t) => {
  const [due, expired] = await Promise.all([renewalDueSet('wait'), expiredSet('wait')])
  const cases: Array<[string, Record<string, string>, Record<string, string>, RegExp | true]> = [
    ['a valid client pair', { 'tls.crt': setA.envoyCert, 'tls.key': setA.envoyKey }, { 'ca.crt': setA.caCert }, true],
    ['due for renewal (still works)', { 'tls.crt': due.envoyCert, 'tls.key': due.envoyKey }, { 'ca.crt': due.caCert }, true],
    ['expired', { 'tls.crt': expired.envoyCert, 'tls.key': expired.envoyKey }, { 'ca.crt': expired.caCert }, /\(expired:/],
    ['the Contour (server) certificate', { 'tls.crt': setA.contourCert, 'tls.key': setA.contourKey }, { 'ca.crt': setA.caCert }, /\(wrong-usage:/],
    ['a key from another set', { 'tls.crt': setA.envoyCert, 'tls.key': setB.envoyKey }, { 'ca.crt': setA.caCert }, /\(key-mismatch:/],
    ['another set\'s CA', { 'tls.crt': setA.envoyCert, 'tls.key': setA.envoyKey }, { 'ca.crt': setB.caCert }, /\(not-signed-by-ca:/],
  ]
  for (const [name, envoy, ca, want] of cases) {
    const dir = await mkdtemp(join(tmpdir(), 'envoy-'))
    await projectAtomically(join(dir, 'envoy'), envoy)
    await projectAtomically(join(dir, 'ca'), ca)
    const result = await envoyPairProbe(dir, () => new Date())()
    if (want === true) t.equal(result.ready, true, name)
    else t.match(result, { ready: false, detail: want }, name)
  }
  const due2 = await mkdtemp(join(tmpdir(), 'envoy-'))
  await projectAtomically(join(due2, 'envoy'), { 'tls.crt': due.envoyCert, 'tls.key': due.envoyKey })
  await projectAtomically(join(due2, 'ca'), { 'ca.crt': due.caCert })
  t.match(await envoyPairProbe(due2, () => new Date())(), { ready: true, note: /due for renewal/ })
})

t.test('readMount: symlinked kubelet layout, missing files and missing mounts', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'mount-'))
  await projectAtomically(join(dir, 'ca'), { 'ca.crt': setA.caCert })
  t.match(await readMount(join(dir, 'ca'), ['ca.crt']), { ok: true, files: { 'ca.crt': Buffer.from(setA.caCert) } })
  t.match(await readMount(join(dir, 'ca'), ['ca.crt', 'tls.key']), { ok: false, detail: /ca\/tls\.key does not exist yet/ })
  t.match(await readMount(join(dir, 'envoy'), ['tls.crt']), { ok: false, detail: /envoy does not exist \(is the Secret volume mounted\?\)/ })
})

t.test('a probe racing continuous ..data swaps only ever sees whole sets', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'race-'))
  await projectAtomically(join(dir, 'envoy'), { 'tls.crt': setA.envoyCert, 'tls.key': setA.envoyKey })
  let stop = false
  const swapper = (async () => {
    for (let i = 0; !stop; i++) {
      const s = i % 2 === 0 ? setB : setA
      await projectAtomically(join(dir, 'envoy'), { 'tls.crt': s.envoyCert, 'tls.key': s.envoyKey })
    }
  })()
  let torn = 0
  let reads = 0
  const until = Date.now() + 400
  while (Date.now() < until) {
    const snap = await readMount(join(dir, 'envoy'), ['tls.crt', 'tls.key'])
    if (!snap.ok) continue
    reads++
    const crt = snap.files['tls.crt']?.toString()
    const key = snap.files['tls.key']?.toString()
    const whole = (crt === setA.envoyCert && key === setA.envoyKey) || (crt === setB.envoyCert && key === setB.envoyKey)
    if (!whole) torn++
  }
  stop = true
  await swapper
  t.ok(reads > 0, `${reads} consistent snapshots`)
  t.equal(torn, 0, 'no snapshot mixed two sets')
})

t.test('trust bundles in the mounts: exact material includes every CA, and the Envoy role accepts a bundle', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'wait-bundle-'))
  const bundled: CertificateSet = { ...setA, caCert: `${setA.caCert.trim()}\n${setB.caCert}` }
  await projectAtomically(join(dir, 'contour'), leafFiles(setA, 'contour'))
  await projectAtomically(join(dir, 'ca'), { 'ca.crt': setA.caCert })
  const single = await exactMaterialProbe(expected(dir, bundled))()
  t.equal(single.ready, false, 'mounted files without the bundle\'s second CA are not yet the Secrets\' material')
  await projectAtomically(join(dir, 'contour'), leafFiles(bundled, 'contour'))
  await projectAtomically(join(dir, 'ca'), { 'ca.crt': bundled.caCert })
  t.match(await exactMaterialProbe(expected(dir, bundled))(), { ready: true }, 'the whole bundle mounted: ready')
  await projectAtomically(join(dir, 'envoy'), leafFiles(bundled, 'envoy'))
  t.match(await envoyPairProbe(dir, () => new Date())(), { ready: true }, 'the Envoy pair verifies against the bundle\'s first CA')
})
