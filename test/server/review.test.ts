import t from 'tap'
import { defaultInjectionSettings } from '../../src/core/injection/inject-pod.ts'
import { Annotations } from '../../src/core/injection/types.ts'
import { admitReview, parseAdmissionReview, serializeResponse } from '../../src/server/review.ts'
import { envoyReview } from '../helpers/reviews.ts'

const settings = defaultInjectionSettings('1.2.3', 'example.test/contour-tls-injector:1.2.3')

t.test('serializeResponse writes the bytes of JSON.stringify for every outcome', async (t) => {
  const shellWrapped = envoyReview()
  const containers = (shellWrapped.request.object.spec as { containers: { command?: string[]; args?: string[] }[] }).containers
  containers[1] = { ...containers[1], command: ['sh', '-c'], args: ['exec envoy -c /config/envoy.json'] }
  const reviews = {
    injected: envoyReview(),
    'injected, uid needing escapes': envoyReview({ uid: 'ü"\\\n\u2028' }),
    ignored: envoyReview({ operation: 'UPDATE' }),
    'skipped silently': envoyReview({ object: { kind: 'Pod', metadata: { annotations: { [Annotations.inject]: 'false' } }, spec: { containers: [] } } }),
    'skipped with a warning': shellWrapped,
  }
  const seen = new Set<string>()
  for (const [name, review] of Object.entries(reviews)) {
    const { body, decision } = admitReview(parseAdmissionReview(review), settings)
    seen.add(decision.outcome)
    t.equal(serializeResponse(body).toString('utf8'), JSON.stringify(body), name)
  }
  t.same([...seen].sort(), ['ignored', 'injected', 'skipped'], 'every outcome covered')
  const warned = admitReview(parseAdmissionReview(reviews['skipped with a warning']), settings).body
  t.equal(warned.response.warnings?.length, 1, 'the warning case carries a warning')
})
