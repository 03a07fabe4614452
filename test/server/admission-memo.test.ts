import t from 'tap'
import { defaultInjectionSettings } from '../../src/core/injection/inject-pod.ts'
import { createAdmissionMemo, engineInputs, sameJson } from '../../src/server/admission-memo.ts'
import { admitReview, decidePod, parseAdmissionReview } from '../../src/server/review.ts'
import { envoyReview } from '../helpers/reviews.ts'
import { isEngineInput, recordReads } from '../helpers/record-reads.ts'
import { loadUpstreamCases } from '../core/injection/support/load-upstream-pods.ts'
import { makeInsecureVariant } from '../core/injection/support/upstream-variants.ts'

const settings = defaultInjectionSettings('1.2.3', 'example.test/contour-tls-injector:1.2.3')

type Pod = { metadata?: { annotations?: Record<string, string> }; spec: { containers: { name: string; args?: string[]; env?: unknown[] }[]; initContainers?: { name: string; args?: string[] }[]; volumes?: { name: string }[] } }
const envoyPod = (): Pod => envoyReview().request.object as unknown as Pod

t.test('sameJson: JSON equality, member order aside', async (t) => {
  t.ok(sameJson({ a: 1, b: [1, { c: 'x' }] }, { b: [1, { c: 'x' }], a: 1 }))
  t.ok(sameJson(null, null))
  t.notOk(sameJson(null, undefined))
  t.notOk(sameJson({ a: undefined }, {}), 'a member set to undefined is not an absent one')
  t.notOk(sameJson({}, { a: undefined }))
  t.notOk(sameJson([1, 2], [2, 1]), 'arrays are ordered')
  t.notOk(sameJson([], {}))
  t.notOk(sameJson({ a: 1 }, { a: 1, b: 2 }))
  t.notOk(sameJson('1', 1))
  t.ok(sameJson(JSON.parse('{"__proto__":{"x":1}}'), JSON.parse('{"__proto__":{"x":1}}')))
  t.notOk(sameJson(JSON.parse('{"__proto__":{"x":1}}'), JSON.parse('{"__proto__":{"x":2}}')), 'a __proto__ key is compared like any other')
})

t.test('the engine reads only what the memo compares, on every upstream pod and its insecure variant', async (t) => {
  const pods = loadUpstreamCases().flatMap(({ pod }) => [pod, makeInsecureVariant(pod)])
  t.ok(pods.length >= 20, `${pods.length} pods`)
  for (const pod of pods) {
    const paths: string[][] = []
    decidePod(recordReads(structuredClone(pod), paths), settings)
    t.same(paths.filter((path) => !isEngineInput(path)), [], 'no read outside the engine inputs')
  }
})

t.test('a hit is the engine\'s answer; any change to an engine input misses', async (t) => {
  const memo = createAdmissionMemo(settings)
  const first = envoyPod()
  const outcome = decidePod(first, settings)
  memo.remember(first, outcome)
  t.same(memo.lookup(envoyPod()), outcome, 'an identical pod (another object) hits')
  const changes: Record<string, (pod: Pod) => void> = {
    'an argument': (pod) => { pod.spec.initContainers![0]!.args!.push('--extra') },
    'a container name': (pod) => { pod.spec.containers[0]!.name = 'renamed' },
    'an env var': (pod) => { pod.spec.containers[1]!.env = [{ name: 'ENVOY_CAFILE', value: '/x' }] },
    'a volume': (pod) => { pod.spec.volumes![0]!.name = 'contour-tls-injection-ca' },
    'the opt-out annotation': (pod) => { pod.metadata = { ...pod.metadata, annotations: { 'contour-tls-injection/inject': 'false' } } },
    'the status annotation': (pod) => { pod.metadata = { ...pod.metadata, annotations: { 'contour-tls-injection/status': 'injected' } } },
    'no metadata': (pod) => { delete pod.metadata },
  }
  for (const [name, change] of Object.entries(changes)) {
    const pod = envoyPod()
    change(pod)
    t.equal(memo.lookup(pod), undefined, `${name} misses`)
  }
  const nodeSpecific = envoyPod() as Pod & { spec: { affinity?: unknown; nodeName?: string }; metadata: { name?: string } }
  nodeSpecific.spec.affinity = { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['node-7'] }] }] } } }
  nodeSpecific.metadata.name = 'envoy-x7k2p'
  t.same(memo.lookup(nodeSpecific), outcome, 'what the engine never reads (a DaemonSet pod\'s node affinity, its name) does not matter')
})

t.test('entries are copies, bounded, least recently used out first', async (t) => {
  const memo = createAdmissionMemo(settings, 2)
  const pods = [0, 1, 2].map((i) => { const pod = envoyPod(); pod.spec.containers[0]!.name = `c${i}`; return pod })
  const remember = (pod: Pod) => memo.remember(pod, decidePod(pod, settings))
  remember(pods[0]!)
  pods[0]!.spec.containers[0]!.name = 'changed after'
  t.equal(memo.lookup(pods[0]!), undefined, 'a later change to the request object does not reach the entry')
  pods[0]!.spec.containers[0]!.name = 'c0'
  t.ok(memo.lookup(pods[0]!), 'the entry holds the inputs as they were')
  remember(pods[1]!)
  t.ok(memo.lookup(pods[0]!), 'c0 is now the most recently used')
  remember(pods[2]!)
  t.equal(memo.size, 2)
  t.equal(memo.lookup(pods[1]!), undefined, 'the least recently used entry went')
  t.ok(memo.lookup(pods[0]!) && memo.lookup(pods[2]!))
  t.equal(engineInputs('not a pod'), undefined)
  memo.remember('not a pod', decidePod('not a pod', settings))
  t.equal(memo.lookup('not a pod'), undefined, 'only pod-shaped objects are remembered')
})

t.test('admitReview: a memo for other settings is not used; responses with and without a memo are identical', async (t) => {
  const other = defaultInjectionSettings('9.9.9', 'example.test/other:9.9.9')
  const memo = createAdmissionMemo(other)
  const review = parseAdmissionReview(envoyReview())
  memo.remember(review.request.object, decidePod(review.request.object, other))
  const withMemo = admitReview(review, settings, memo)
  t.same(withMemo, admitReview(review, settings), 'the other settings\' answer is not served')
  const own = createAdmissionMemo(settings)
  for (let i = 0; i < 3; i++) {
    const next = parseAdmissionReview(envoyReview({ uid: `uid-${i}` }))
    t.same(admitReview(next, settings, own), admitReview(next, settings), `review ${i}: same body and decision, own uid`)
  }
  t.equal(own.size, 1)
})
