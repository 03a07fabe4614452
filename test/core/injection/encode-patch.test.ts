import t from 'tap'
import { deriveSettings } from '../../../src/core/injection/derived-settings.ts'
import { encodePatch, markImmutable } from '../../../src/core/injection/encode-patch.ts'
import { defaultInjectionSettings, injectPod } from '../../../src/core/injection/inject-pod.ts'
import type { Operation } from '../../../src/core/injection/types.ts'
import { envoyReview } from '../../helpers/reviews.ts'

const settings = defaultInjectionSettings('1.2.3', 'example.test/contour-tls-injector:1.2.3')

t.test('every operation shape encodes exactly as JSON.stringify', async (t) => {
  const marked = Object.freeze({ name: 'marked', list: Object.freeze([1, 'two']) })
  markImmutable(marked)
  const cases: Operation[][] = [
    [],
    [{ op: 'add', path: '/a', value: 1 }],
    [{ op: 'replace', path: '/a~1b/0', value: ['x', 'é ü "quoted" \\ \n', '\u2028'] }],
    [{ op: 'add', path: '/spec/volumes', value: [marked, { plain: true }, marked] }],
    [{ op: 'add', path: '/n', value: null }, { op: 'add', path: '/arr', value: [undefined, null, [marked]] as unknown[] }],
    [{ op: 'remove', path: '/x' }, { op: 'move', from: '/a', path: '/b' }, { op: 'copy', from: '/a', path: '/c' }, { op: 'test', path: '/a', value: 1 }],
    // Not the engine's key order: left to JSON.stringify.
    [{ path: '/z', op: 'add', value: marked } as Operation, { op: 'add', value: 2, path: '/y' } as Operation],
    [{ op: 'add', path: '/deep', value: { nested: marked } }],
  ]
  for (const [i, patch] of cases.entries()) t.equal(encodePatch(patch), JSON.stringify(patch), `case ${i}`)
})

t.test('markImmutable refuses a value that can still change', async (t) => {
  t.throws(() => markImmutable({ name: 'mutable' }), TypeError)
})

t.test('settings-derived parts are built once, shared and deep-frozen', async (t) => {
  const pod = () => envoyReview().request.object
  const first = injectPod(pod(), settings)
  const second = injectPod(pod(), settings)
  const initOf = (patch: Operation[]) => patch.find((op) => op.path.startsWith('/spec/initContainers/0') && op.path.split('/').length === 4)
  const a = initOf(first.patch)
  const b = initOf(second.patch)
  t.ok(a !== undefined && b !== undefined && 'value' in a && 'value' in b && a.value === b.value, 'one init container object for every patch')
  const derived = deriveSettings(settings)
  t.equal(deriveSettings(settings), derived, 'derived once per settings object')
  t.ok(Object.isFrozen(derived.roles.envoy.initContainer.securityContext?.capabilities?.drop), 'frozen all the way down')
  t.throws(() => {
    ;(derived.roles.envoy.initContainer.args as string[]).push('--oops')
  }, TypeError, 'a consumer cannot change the next admission\'s patch')
  t.equal(encodePatch(first.patch), JSON.stringify(first.patch))
})
