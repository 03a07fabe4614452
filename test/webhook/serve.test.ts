// The webhook over a real HTTPS socket: real handshakes, bad input, certificate reload, SIGTERM drain.
import t from 'tap'
import { Agent } from 'node:https'
import { X509Certificate } from 'node:crypto'
import { mkdtemp, mkdir, writeFile, symlink, rename } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runWebhook } from '../../src/webhook/main.ts'
import { issueCertificateSet } from '../../src/core/certs/issue-set.ts'
import type { CertificateSet } from '../../src/core/certs/types.ts'
import { freePort, httpsRequest } from '../helpers/https-client.ts'
import { envoyReviewText } from '../helpers/reviews.ts'

const issue = () => issueCertificateSet({ namespace: 'default', serviceName: 'localhost', extraSans: ['127.0.0.1'] })

// Lays the pair out as the kubelet does: files are symlinks through `..data`, swapped atomically.
async function writeKubeletStyle(dir: string, generation: string, set: CertificateSet): Promise<void> {
  const gen = join(dir, `..${generation}`)
  await mkdir(gen)
  await writeFile(join(gen, 'tls.crt'), set.contourCert)
  await writeFile(join(gen, 'tls.key'), set.contourKey)
  await symlink(`..${generation}`, join(dir, '..data_tmp'))
  await rename(join(dir, '..data_tmp'), join(dir, '..data'))
}

const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

t.test('serves, reloads its certificate without dropping connections, and drains on SIGTERM', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'cti-serve-'))
  const [a, b] = await Promise.all([issue(), issue()])
  await writeKubeletStyle(dir, 'gen1', a)
  await symlink('..data/tls.crt', join(dir, 'tls.crt'))
  await symlink('..data/tls.key', join(dir, 'tls.key'))
  const port = await freePort()
  const stop = new AbortController()
  let stderr = ''
  const exited = runWebhook(
    ['--tls-cert-file', join(dir, 'tls.crt'), '--tls-key-file', join(dir, 'tls.key'), '--host=127.0.0.1', `--port=${port}`, '--drain-seconds=2', '--log-level=silent'],
    { stdout: { write: () => true }, stderr: { write: (s: string) => (stderr += s) }, env: {}, stopSignal: stop.signal },
  )
  const ca = [a.caCert, b.caCert]
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => agent.destroy())

  let ready = false
  for (let i = 0; i < 100 && !ready; i++) {
    ready = await httpsRequest({ port, path: '/readyz', agent: false, ca }).then((r) => r.statusCode === 200, () => false)
    if (!ready) await sleep(50)
  }
  t.ok(ready, `ready ${stderr}`)

  const first = await httpsRequest({ port, path: '/mutate', method: 'POST', body: envoyReviewText, agent, ca })
  t.equal(first.statusCode, 200)
  t.equal(first.protocol, 'TLSv1.3')
  t.equal(first.peerFingerprint, fingerprint(a.contourCert), 'serves certificate A')
  t.match(String(first.headers['keep-alive']), /timeout=100/, 'idle keep-alive timeout above the apiserver 90 s')
  t.match(JSON.parse(first.body), { response: { allowed: true, patchType: 'JSONPatch' } })

  await t.test('bad input over the socket', async (t) => {
    const bad = await httpsRequest({ port, path: '/mutate', method: 'POST', body: '{nope', agent: false, ca })
    t.equal(bad.statusCode, 400)
    t.equal(JSON.parse(bad.body).code, 'ERR_MALFORMED_REVIEW')
    const type = await httpsRequest({ port, path: '/mutate', method: 'POST', body: 'x', contentType: 'text/plain', agent: false, ca })
    t.equal(type.statusCode, 415)
    const big = await httpsRequest({ port, path: '/mutate', method: 'POST', body: Buffer.alloc(5 * 1024 * 1024, 0x20), agent: false, ca }).catch((err: Error) => err)
    t.ok(big instanceof Error || big.statusCode === 413, 'over-limit body refused')
    if (!(big instanceof Error)) t.equal(JSON.parse(big.body).code, 'ERR_BODY_TOO_LARGE')
    const still = await httpsRequest({ port, path: '/healthz', agent: false, ca })
    t.equal(still.statusCode, 200, 'the process is still up')
  })

  await t.test('certificate reload', async (t) => {
    await writeKubeletStyle(dir, 'gen2', b)
    let seen = ''
    for (let i = 0; i < 200 && seen !== fingerprint(b.contourCert); i++) {
      seen = (await httpsRequest({ port, path: '/healthz', agent: false, ca })).peerFingerprint
      if (seen !== fingerprint(b.contourCert)) await sleep(50)
    }
    t.equal(seen, fingerprint(b.contourCert), 'new handshakes get certificate B')
    const old = await httpsRequest({ port, path: '/mutate', method: 'POST', body: envoyReviewText, agent, ca })
    t.equal(old.statusCode, 200)
    t.ok(old.reusedSocket, 'the open keep-alive connection is still used')
    t.equal(old.peerFingerprint, fingerprint(a.contourCert), 'and still carries its original session')
  })

  await t.test('SIGTERM drain: readiness fails, requests keep succeeding, then the server closes', async (t) => {
    let failures = 0
    let served = 0
    let looping = true
    const loop = (async () => {
      while (looping) {
        try {
          const r = await httpsRequest({ port, path: '/mutate', method: 'POST', body: envoyReviewText, agent, ca })
          if (r.statusCode === 200) served++
          else failures++
        } catch {
          failures++
        }
      }
    })()
    await sleep(200)
    stop.abort('SIGTERM')
    await sleep(300)
    const readyz = await httpsRequest({ port, path: '/readyz', agent: false, ca })
    t.equal(readyz.statusCode, 503, 'not ready while draining')
    const servedBefore = served
    await sleep(1200)
    looping = false
    await loop
    t.ok(served > servedBefore, `requests still served during the drain (${served - servedBefore})`)
    t.equal(failures, 0, 'no request failed during the drain')
    t.equal(await exited, 0, 'exit code 0')
    const after = await httpsRequest({ port, path: '/healthz', agent: false, ca }).catch((err: NodeJS.ErrnoException) => err)
    t.ok(after instanceof Error && after.code === 'ECONNREFUSED', 'closed after the drain')
  })
})

t.test('--help, bad flags and a missing certificate', async (t) => {
  let out = ''
  let err = ''
  const io = { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) }, env: {} }
  t.equal(await runWebhook(['--help'], io), 0)
  for (const flag of ['--host', '--port', '--tls-cert-file', '--tls-key-file', '--image', '--mount-root', '--contour-secret']) t.match(out, flag)
  t.equal(await runWebhook(['--port=x', '--dev'], io), 2)
  t.match(err, /--port/)
  t.equal(await runWebhook(['--tls-cert-file=/nonexistent.crt', '--tls-key-file=/nonexistent.key'], io), 1)
  t.match(err, /ERR_SERVING_CERT/)
})
