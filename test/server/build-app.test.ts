import t from 'tap'
import jsonpatch from 'fast-json-patch'
import { buildApp, BODY_LIMIT_BYTES, MEMO_MAX_BODY_BYTES } from '../../src/server/build-app.ts'
import { createMetrics } from '../../src/server/metrics.ts'
import { Annotations, DEFAULT_MOUNT_ROOT, DEFAULT_SECRET_NAMES, type InjectionSettings, type Operation } from '../../src/core/injection/types.ts'
import { applyJsonPatch } from '../core/injection/support/golden-files.ts'
import { loadUpstreamCases } from '../core/injection/support/load-upstream-pods.ts'
import { envoyReview } from '../helpers/reviews.ts'

const settings: InjectionSettings = {
  image: 'example.test/contour-tls-injector:1.2.3',
  imagePullPolicy: 'IfNotPresent',
  secretNames: DEFAULT_SECRET_NAMES,
  mountRoot: DEFAULT_MOUNT_ROOT,
  version: '1.2.3',
  existingTls: 'certgen',
  bootstrapMode: 'init',
}

function makeApp() {
  const { app, state, metrics } = buildApp({ injection: settings, metrics: createMetrics({ processMetrics: false }), state: { certLoaded: true, draining: false } })
  t.teardown(() => app.close())
  return { app, state, metrics }
}

interface ReviewResponse { apiVersion: string; kind: string; response: { uid: string; allowed: boolean; patchType?: string; patch?: string; warnings?: string[] } }

t.test('a pod CREATE gets a base64 JSON patch that applies and injects', async (t) => {
  const { app } = makeApp()
  const review = envoyReview()
  const res = await app.inject({ method: 'POST', url: '/mutate', payload: review })
  t.equal(res.statusCode, 200)
  const body = res.json() as ReviewResponse
  t.equal(body.apiVersion, 'admission.k8s.io/v1')
  t.equal(body.kind, 'AdmissionReview')
  t.equal(body.response.uid, review.request.uid)
  t.equal(body.response.allowed, true)
  t.equal(body.response.patchType, 'JSONPatch')
  const patch = JSON.parse(Buffer.from(body.response.patch ?? '', 'base64').toString('utf8'))
  const pod = jsonpatch.applyPatch(structuredClone(review.request.object), patch, true, false).newDocument as { spec: { initContainers: { name: string; args: string[] }[] } }
  t.equal(pod.spec.initContainers[0]?.name, 'bootstrap-tls')
  t.same(pod.spec.initContainers[0]?.args, ['bootstrap-tls', '--role=envoy'])
  const bootstrap = pod.spec.initContainers.find((c) => c.name === 'envoy-initconfig')
  t.ok(bootstrap?.args.includes('--envoy-cafile=/etc/tls/ca/ca.crt'))

  // The webhook's own output, sent again (reinvocation), yields no patch and no warning.
  const again = await app.inject({ method: 'POST', url: '/mutate', payload: envoyReview({ object: pod }) })
  const againBody = again.json() as ReviewResponse
  t.equal(againBody.response.allowed, true)
  t.equal(againBody.response.patch, undefined)
  t.equal(againBody.response.warnings, undefined)
})

t.test('other operations, kinds and sub-resources are allowed untouched', async (t) => {
  const { app } = makeApp()
  for (const overrides of [
    { operation: 'UPDATE' },
    { operation: 'DELETE' },
    { kind: { group: 'apps', version: 'v1', kind: 'Deployment' } },
    { subResource: 'ephemeralcontainers' },
  ]) {
    const res = await app.inject({ method: 'POST', url: '/mutate', payload: envoyReview(overrides) })
    const body = res.json() as ReviewResponse
    t.equal(res.statusCode, 200)
    t.equal(body.response.allowed, true)
    t.equal(body.response.patch, undefined, JSON.stringify(overrides))
  }
})

t.test('misconfiguration skips carry warnings; opt-out does not', async (t) => {
  const { app } = makeApp()
  const shell = envoyReview()
  const spec = shell.request.object.spec as { initContainers: Record<string, unknown>[] }
  spec.initContainers[0] = { name: 'envoy-initconfig', image: 'x', command: ['sh', '-c', 'contour bootstrap /config/envoy.json --xds-address=contour'] }
  const res = await app.inject({ method: 'POST', url: '/mutate', payload: shell })
  const body = res.json() as ReviewResponse
  t.equal(body.response.patch, undefined)
  t.ok(body.response.warnings?.some((w) => w.includes('shell-wrapped')), 'warning names the reason')

  const optOut = envoyReview()
  optOut.request.object.metadata = { ...(optOut.request.object.metadata as object), annotations: { 'contour-tls-injection/inject': 'false' } }
  const res2 = await app.inject({ method: 'POST', url: '/mutate', payload: optOut })
  const body2 = res2.json() as ReviewResponse
  t.equal(body2.response.patch, undefined)
  t.equal(body2.response.warnings, undefined)
})

t.test('transport errors are HTTP errors with stable codes', async (t) => {
  const { app, metrics } = makeApp()
  const cases: { name: string; payload: string | Buffer; contentType: string; status: number; code: string }[] = [
    { name: 'malformed JSON', payload: '{"apiVersion":', contentType: 'application/json', status: 400, code: 'ERR_MALFORMED_REVIEW' },
    { name: 'empty body', payload: '', contentType: 'application/json', status: 400, code: 'ERR_MALFORMED_REVIEW' },
    { name: 'JSON array', payload: '[]', contentType: 'application/json', status: 400, code: 'ERR_MALFORMED_REVIEW' },
    { name: 'wrong apiVersion', payload: JSON.stringify({ ...envoyReview(), apiVersion: 'admission.k8s.io/v1beta1' }), contentType: 'application/json', status: 400, code: 'ERR_MALFORMED_REVIEW' },
    { name: 'no request.uid', payload: JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: {} }), contentType: 'application/json', status: 400, code: 'ERR_MALFORMED_REVIEW' },
    { name: 'not JSON', payload: 'hello', contentType: 'text/plain', status: 415, code: 'ERR_UNSUPPORTED_MEDIA_TYPE' },
    { name: 'YAML', payload: 'a: 1', contentType: 'application/yaml', status: 415, code: 'ERR_UNSUPPORTED_MEDIA_TYPE' },
    { name: 'too large', payload: Buffer.alloc(BODY_LIMIT_BYTES + 1, 0x20), contentType: 'application/json', status: 413, code: 'ERR_BODY_TOO_LARGE' },
  ]
  for (const c of cases) {
    const res = await app.inject({ method: 'POST', url: '/mutate', payload: c.payload, headers: { 'content-type': c.contentType } })
    t.equal(res.statusCode, c.status, c.name)
    t.equal((res.json() as { code: string }).code, c.code, c.name)
  }
  const notFound = await app.inject({ method: 'GET', url: '/nope' })
  t.equal(notFound.statusCode, 404)
  t.equal((notFound.json() as { code: string }).code, 'ERR_NOT_FOUND')
  const text = await metrics.registry.metrics()
  t.match(text, /contour_tls_injector_request_errors_total\{code="ERR_MALFORMED_REVIEW"\} 5/)
  t.match(text, /contour_tls_injector_request_errors_total\{code="ERR_BODY_TOO_LARGE"\} 1/)
})

t.test('health, readiness and metrics', async (t) => {
  const { app, state } = makeApp()
  t.equal((await app.inject({ url: '/healthz' })).statusCode, 200)
  t.equal((await app.inject({ url: '/readyz' })).statusCode, 200)
  state.draining = true
  const draining = await app.inject({ url: '/readyz' })
  t.equal(draining.statusCode, 503)
  t.equal((draining.json() as { reason: string }).reason, 'draining')
  state.draining = false
  state.certLoaded = false
  t.equal((await app.inject({ url: '/readyz' })).statusCode, 503)

  await app.inject({ method: 'POST', url: '/mutate', payload: envoyReview() })
  await app.inject({ method: 'POST', url: '/mutate', payload: envoyReview({ operation: 'UPDATE' }) })
  const metrics = await app.inject({ url: '/metrics' })
  t.equal(metrics.statusCode, 200)
  t.match(metrics.headers['content-type'], /text\/plain/)
  t.match(metrics.body, /contour_tls_injector_admissions_total\{outcome="injected",reason="",role="envoy"\} 1/)
  t.match(metrics.body, /contour_tls_injector_admissions_total\{outcome="ignored",reason="not-pod-create",role=""\} 1/)
  // The +Inf bucket: which finite bucket a first request lands in depends on the machine's load.
  t.match(metrics.body, /contour_tls_injector_admission_duration_seconds_bucket\{le="\+Inf",outcome="injected"\} 1/)
  t.match(metrics.body, /contour_tls_injector_admission_duration_seconds_count\{outcome="injected"\} 1/)
})

t.test('a __proto__ or constructor key in the pod is an ordinary key: injected, no prototype touched', async (t) => {
  const { app } = makeApp()
  const review = envoyReview()
  const text = JSON.stringify(review).replace('"metadata":{', '"metadata":{"constructor":{"prototype":{"polluted":true}},"annotations":{"__proto__":"x","other":"y"},')
  t.match(text, /"__proto__":"x"/, 'the body carries the key')
  const res = await app.inject({ method: 'POST', url: '/mutate', headers: { 'content-type': 'application/json' }, payload: text })
  t.equal(res.statusCode, 200)
  const body = res.json() as ReviewResponse
  t.equal(body.response.patchType, 'JSONPatch', 'injected')
  const patch = JSON.parse(Buffer.from(body.response.patch ?? '', 'base64').toString('utf8')) as { path: string }[]
  t.ok(patch.some((op) => op.path === '/metadata/annotations/contour-tls-injection~1status'), 'status added next to the existing annotations')
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype untouched')
})

t.test('the admission memo serves repeated pods and skips reviews over its size limit', async (t) => {
  const { app, memo } = buildApp({ injection: settings, metrics: createMetrics({ processMetrics: false }), state: { certLoaded: true, draining: false } })
  t.teardown(() => app.close())
  const first = await app.inject({ method: 'POST', url: '/mutate', payload: envoyReview({ uid: 'a' }) })
  const second = await app.inject({ method: 'POST', url: '/mutate', payload: envoyReview({ uid: 'b' }) })
  t.equal(memo.size, 1, 'one template, one entry')
  const a = first.json() as ReviewResponse
  const b = second.json() as ReviewResponse
  t.equal(b.response.uid, 'b', 'a remembered answer still echoes its own uid')
  t.equal(b.response.patch, a.response.patch, 'and carries the same patch')
  const large = envoyReview({ uid: 'c' })
  ;(large.request.object.metadata as { annotations?: Record<string, string> }).annotations = { padding: 'x'.repeat(MEMO_MAX_BODY_BYTES) }
  const res = await app.inject({ method: 'POST', url: '/mutate', payload: large })
  t.equal((res.json() as ReviewResponse).response.patchType, 'JSONPatch', 'a large review is still injected')
  t.equal(memo.size, 1, 'but not remembered')
})

t.test('a take-over of certgen TLS: patch, a warning naming the replaced Secrets, its own outcome in the metrics', async (t) => {
  const { app } = makeApp()
  const pod = loadUpstreamCases().find((c) => c.name === 'v1.33.6--03-contour--deployment-contour')?.pod
  if (pod === undefined) return t.fail('fixture missing')
  const res = await app.inject({ method: 'POST', url: '/mutate', payload: envoyReview({ object: pod }) })
  const response = (res.json() as { response: { patch?: string; warnings?: string[] } }).response
  t.ok(response.patch !== undefined, 'patched')
  t.equal(response.warnings?.length, 1)
  t.match(response.warnings?.[0], /took over TLS from Secret contourcert.*certgen's Job and this Secret may be deleted/)
  const patched = applyJsonPatch(pod, JSON.parse(Buffer.from(response.patch ?? '', 'base64').toString()) as Operation[])
  t.match(patched.metadata?.annotations?.[Annotations.status], /^injected; role=contour; replaced=contourcert; version=1\.2\.3$/)
  const metrics = await app.inject({ url: '/metrics' })
  t.match(metrics.body, /contour_tls_injector_admissions_total\{outcome="taken-over",reason="",role="contour"\} 1/)
})
