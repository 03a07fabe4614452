// Engine behaviour the golden cases do not show: malformed input, reuse of our own volumes and
// mounts, patch shapes, and the warning format.
import type { V1Pod } from '@kubernetes/client-node'
import t from 'tap'
import { defaultInjectionSettings, injectPod } from '../../../src/core/injection/inject-pod.ts'
import type { InjectionResult } from '../../../src/core/injection/types.ts'
import { applyJsonPatch } from './support/golden-files.ts'

const settings = defaultInjectionSettings('1.2.3', 'contour-tls-injector:test')

function contourPod(extra: { metadata?: unknown; volumes?: unknown; volumeMounts?: unknown } = {}): Record<string, unknown> {
  const container: Record<string, unknown> = { name: 'contour', command: ['contour'], args: ['serve', '--insecure'] }
  if ('volumeMounts' in extra) container.volumeMounts = extra.volumeMounts
  const spec: Record<string, unknown> = { containers: [container] }
  if ('volumes' in extra) spec.volumes = extra.volumes
  const pod: Record<string, unknown> = { apiVersion: 'v1', kind: 'Pod', spec }
  if ('metadata' in extra) pod.metadata = extra.metadata
  return pod
}

function reasonOf(result: InjectionResult): string {
  return result.outcome === 'skipped' ? result.reason : `injected:${result.role}`
}

t.test('malformed input is skipped, never thrown on', async (t) => {
  const notPods: unknown[] = [
    undefined, null, 0, 'pod', [], {}, { spec: null }, { spec: [] }, { spec: {} },
    { spec: { containers: 'contour' } }, { spec: { containers: [null] } },
    { spec: { containers: [], initContainers: {} } }, { spec: { containers: [], volumes: 'x' } },
    { metadata: 'x', spec: { containers: [] } }, { metadata: { annotations: [] }, spec: { containers: [] } },
    { kind: 'Deployment', spec: { containers: [] } },
    { spec: { containers: [{ name: 'contour', command: ['contour', 'serve'], volumeMounts: {} }] } },
  ]
  for (const pod of notPods) t.equal(reasonOf(injectPod(pod, settings)), 'not-a-pod', JSON.stringify(pod) ?? 'undefined')
  const odd = { spec: { containers: [{ name: 'contour', command: ['contour'], args: ['serve', 5] }, { command: 'envoy' }] } }
  t.equal(reasonOf(injectPod(odd, settings)), 'not-contour-or-envoy', 'argv with non-strings is not classified')
})

t.test('null members patch like absent ones', async (t) => {
  const pod = { kind: 'Pod', metadata: null, spec: { containers: [{ name: 'c', command: ['contour', 'serve'], args: null, volumeMounts: null }], volumes: null, initContainers: null } }
  const result = injectPod(pod, settings)
  t.equal(reasonOf(result), 'injected:contour')
  const output = applyJsonPatch(pod as unknown as V1Pod, result.patch)
  t.equal(output.spec?.initContainers?.[0]?.name, 'bootstrap-tls')
  t.equal(output.spec?.volumes?.length, 2)
  t.equal(reasonOf(injectPod(output, settings)), 'already-injected')
})

t.test('annotations: opt-out, status, and pointer escaping', async (t) => {
  t.equal(reasonOf(injectPod(contourPod({ metadata: { annotations: { 'contour-tls-injection/inject': ' False ' } } }), settings)), 'opted-out')
  t.equal(reasonOf(injectPod(contourPod({ metadata: { annotations: { 'contour-tls-injection/inject': 'true' } } }), settings)), 'injected:contour')
  t.equal(reasonOf(injectPod(contourPod({ metadata: { annotations: { 'contour-tls-injection/status': 'injected; role=envoy' } } }), settings)), 'already-injected')
  const stale = contourPod({ metadata: { annotations: { 'contour-tls-injection/status': 'skipped', other: 'x' } } })
  const result = injectPod(stale, settings)
  const statusOp = result.patch.at(-1)
  t.same(statusOp, { op: 'add', path: '/metadata/annotations/contour-tls-injection~1status', value: 'injected; role=contour; version=1.2.3' })
  const output = applyJsonPatch(stale as V1Pod, result.patch)
  t.same(output.metadata?.annotations, { 'contour-tls-injection/status': 'injected; role=contour; version=1.2.3', other: 'x' })
})

t.test('an identical volume and mount of ours are reused, not duplicated', async (t) => {
  const volume = { name: 'contour-tls-injection-ca', secret: { secretName: 'contour-ca', optional: true, defaultMode: 420 } }
  const mount = { name: 'contour-tls-injection-ca', mountPath: '/etc/tls/ca', readOnly: true }
  const pod = contourPod({ volumes: [volume], volumeMounts: [mount] })
  const result = injectPod(pod, settings)
  t.equal(reasonOf(result), 'injected:contour')
  const output = applyJsonPatch(pod as V1Pod, result.patch)
  t.same(output.spec?.volumes?.map((v) => v.name), ['contour-tls-injection-ca', 'contour-tls-injection-contour'])
  t.same(output.spec?.containers[0]?.volumeMounts?.map((m) => m.mountPath), ['/etc/tls/ca', '/etc/tls/contour'])
  const tightened = { ...volume, secret: { ...volume.secret, defaultMode: 0o400 } }
  t.equal(reasonOf(injectPod(contourPod({ volumes: [tightened] }), settings)), 'volume-name-taken', 'another mode is not ours')
})

t.test('mount paths: inside ours is taken, above ours is fine', async (t) => {
  const volumes = [{ name: 'extra', emptyDir: {} }]
  t.equal(reasonOf(injectPod(contourPod({ volumes, volumeMounts: [{ name: 'extra', mountPath: '/etc/tls/contour/extra' }] }), settings)), 'mount-path-taken')
  t.equal(reasonOf(injectPod(contourPod({ volumes, volumeMounts: [{ name: 'extra', mountPath: '//etc//tls/ca' }] }), settings)), 'mount-path-taken')
  t.equal(reasonOf(injectPod(contourPod({ volumes, volumeMounts: [{ name: 'extra', mountPath: '/etc' }] }), settings)), 'injected:contour')
  t.equal(reasonOf(injectPod(contourPod({ volumes, volumeMounts: [{ name: 'extra', mountPath: '/etc/tls/cafe' }] }), settings)), 'injected:contour')
})

t.test('the init container goes first and bootstrap is rewritten at its old index', async (t) => {
  const pod: V1Pod = {
    kind: 'Pod',
    spec: {
      initContainers: [{ name: 'istio-init', image: 'i' }, { name: 'envoy-initconfig', command: ['contour'], args: ['bootstrap', '--', '/config/envoy.json'] }],
      containers: [{ name: 'envoy', command: ['envoy'] }, { name: 'shutdown-manager', command: ['/bin/contour', 'envoy', 'shutdown-manager'] }],
    },
  }
  const result = injectPod(pod, settings)
  t.equal(reasonOf(result), 'injected:envoy')
  t.ok(result.patch.some((op) => op.op === 'add' && op.path === '/spec/initContainers/0'))
  const output = applyJsonPatch(pod, result.patch)
  t.same(output.spec?.initContainers?.map((c) => c.name), ['bootstrap-tls', 'istio-init', 'envoy-initconfig'])
  t.same(output.spec?.initContainers?.[2]?.args, [
    'bootstrap', '--envoy-cafile=/etc/tls/ca/ca.crt', '--envoy-cert-file=/etc/tls/envoy/tls.crt', '--envoy-key-file=/etc/tls/envoy/tls.key', '--', '/config/envoy.json',
  ])
  t.same(output.spec?.initContainers?.[1], pod.spec?.initContainers?.[0], 'other init containers untouched')
  t.same(output.spec?.containers[1], pod.spec?.containers[1], 'shutdown-manager untouched')
  t.same(output.spec?.initContainers?.[0]?.args, ['bootstrap-tls', '--role=envoy'])
})

t.test('warnings name the reason and the container', async (t) => {
  const pod = { spec: { containers: [{ name: 'contour', command: ['contour', 'serve', '--contour-cafile=/x'] }] } }
  const result = injectPod(pod, settings)
  t.equal(reasonOf(result), 'partial-tls-flags')
  t.equal(result.warnings.length, 1)
  t.match(result.warnings[0], /^contour-tls-injection: not injected \(partial-tls-flags\): container "contour" /)
  const unnamed = { spec: { containers: [{ command: ['sh', '-c', 'contour serve'] }] } }
  t.match(injectPod(unnamed, settings).warnings[0], /\(shell-wrapped\): containers\[0\] /)
})

t.test('settings', async (t) => {
  const defaults = defaultInjectionSettings('v', 'img')
  t.ok(Object.isFrozen(defaults))
  t.same(defaults, { image: 'img', imagePullPolicy: 'IfNotPresent', secretNames: { contour: 'contour-tls', envoy: 'envoy-tls', ca: 'contour-ca' }, mountRoot: '/etc/tls', version: 'v', existingTls: 'certgen', bootstrapMode: 'init' })
  const atRoot = injectPod(contourPod(), { ...settings, mountRoot: '/' })
  const output = applyJsonPatch(contourPod() as V1Pod, atRoot.patch)
  t.same(output.spec?.containers[0]?.volumeMounts?.map((m) => m.mountPath), ['/contour', '/ca'])
  t.same(output.spec?.initContainers?.[0]?.args, ['bootstrap-tls', '--role=contour', '--tls-dir=/'])
})
