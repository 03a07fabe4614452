// The sidecar's lifecycle metrics: rendered from a real pass over real Secrets, and served over
// HTTP on GET /metrics only.
import { X509Certificate } from 'node:crypto'
import { request } from 'node:http'
import t from 'tap'
import { ensureSecrets } from '../../src/bootstrap/ensure-secrets.ts'
import { renderLifecycleMetrics } from '../../src/bootstrap/lifecycle-metrics.ts'
import { startMetricsServer } from '../../src/bootstrap/metrics-server.ts'
import { buildSecretWrite, nextTokens } from '../../src/bootstrap/secret-model.ts'
import { checkCertificateSet } from '../../src/core/certs/check-set.ts'
import { fingerprintSet } from '../../src/core/certs/fingerprint.ts'
import { issueCertificateSet } from '../../src/core/certs/issue-set.ts'
import { renewalDueSet } from './cert-fixtures.ts'
import { MemorySecrets } from './memory-store.ts'
import { DEFAULT_NAMES } from './secret-admin.ts'

function get(port: number, path: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path }, (res) => {
      let body = ''
      res.on('data', (d: Buffer) => (body += d.toString()))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }))
    }).on('error', reject).end()
  })
}

t.test('a staged renewal as metrics: expiry of each certificate, phase trusting, two CAs, the switch as next step', async (t) => {
  const mem = new MemorySecrets()
  const due = await renewalDueSet('metrics')
  for (const role of ['ca', 'contour', 'envoy'] as const) {
    mem.put(buildSecretWrite(role, DEFAULT_NAMES[role], due, { fingerprint: fingerprintSet(due), notAfter: new Date(), writtenAt: new Date(), ...nextTokens({}, '') }))
  }
  const clock = { now: () => Date.now(), sleep: async () => undefined, random: () => 0.5 }
  const ensured = await ensureSecrets({
    store: mem.view('m', async () => undefined),
    names: DEFAULT_NAMES,
    rotateToken: '',
    issue: () => issueCertificateSet({ namespace: 'metrics' }),
    check: (set) => checkCertificateSet(set),
    fingerprint: fingerprintSet,
    clock,
    deadline: Date.now() + 60_000,
    log: () => undefined,
  })
  const text = renderLifecycleMetrics('projectcontour', ensured, { steps: { 'add-trust': 1 }, failedPasses: 2 })
  t.match(text, /^contour_tls_injector_set_phase\{namespace="projectcontour",secret="contour-ca",phase="trusting"\} 1$/m)
  t.match(text, /^contour_tls_injector_set_phase\{namespace="projectcontour",secret="contour-ca",phase="stable"\} 0$/m)
  t.match(text, /^contour_tls_injector_trusted_cas\{namespace="projectcontour",secret="contour-ca"\} 2$/m)
  const leaf = /^contour_tls_injector_certificate_not_after_seconds\{namespace="projectcontour",secret="contour-ca",certificate="contour"\} (\d+)$/m.exec(text)
  t.ok(leaf, 'the Contour leaf\'s expiry')
  t.equal(Number(leaf?.[1]) * 1000, new X509Certificate(due.contourCert).validToDate.getTime(), 'in Unix seconds: the leaf in use until the switch is the old one')
  const next = /^contour_tls_injector_next_step_seconds\{[^}]*\} ([\d.]+)$/m.exec(text)
  t.ok(next && Number(next[1]) * 1000 > Date.now() && Number(next[1]) * 1000 <= Date.now() + 5 * 60_000 + 1000, 'the switch falls due within the propagation delay')
  t.match(text, /^contour_tls_injector_lifecycle_steps_total\{namespace="projectcontour",step="add-trust"\} 1$/m)
  t.match(text, /^contour_tls_injector_lifecycle_failed_passes_total\{namespace="projectcontour"\} 2$/m)
  t.notMatch(text, /PRIVATE|BEGIN/, 'no material')

  const server = await startMetricsServer(0, () => text, '127.0.0.1')
  t.teardown(() => server.close())
  const ok = await get(server.port, '/metrics')
  t.equal(ok.status, 200)
  t.match(ok.type, /^text\/plain; version=0\.0\.4/)
  t.equal(ok.body, text)
  t.equal((await get(server.port, '/')).status, 404, 'nothing but /metrics')
})
