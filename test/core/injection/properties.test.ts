// Properties over generated pods: random mixtures of Contour, Envoy and other containers, argv
// shapes, pre-existing (and colliding) volumes and mounts, and junk. Whatever comes in, the
// engine answers; whatever it patches stays a valid pod; a second pass changes nothing.
import type { V1Container, V1Pod, V1Volume, V1VolumeMount } from '@kubernetes/client-node'
import fc from 'fast-check'
import t from 'tap'
import { withoutModeFields } from './support/without-mode-fields.ts'
import { encodePatch } from '../../../src/core/injection/encode-patch.ts'
import { defaultInjectionSettings, injectPod } from '../../../src/core/injection/inject-pod.ts'
import { Annotations, SkipReasons, WARNED_SKIP_REASONS } from '../../../src/core/injection/types.ts'
import type { InjectionResult } from '../../../src/core/injection/types.ts'
import { findForeignReads } from './support/check-taken-over-pod.ts'
import { applyJsonPatch } from './support/golden-files.ts'
import { createAdmissionMemo } from '../../../src/server/admission-memo.ts'
import { decidePod } from '../../../src/server/review.ts'
import { isEngineInput, recordReads } from '../../helpers/record-reads.ts'

const settings = defaultInjectionSettings('prop', 'contour-tls-injector:prop')
const NUM_RUNS = 500

const TLS_FLAGS = ['--contour-cafile', '--contour-cert-file', '--contour-key-file', '--envoy-cafile', '--envoy-cert-file', '--envoy-key-file']
const TLS_ENV = ['CONTOUR_CAFILE', 'CONTOUR_CERT_FILE', 'CONTOUR_KEY_FILE', 'ENVOY_CAFILE', 'ENVOY_CERT_FILE', 'ENVOY_KEY_FILE']
const VOLUME_NAMES = ['config', 'certs', 'admin', 'cacert', 'contour-tls-injection-ca', 'contour-tls-injection-contour', 'contour-tls-injection-envoy']
const MOUNT_PATHS = ['/config', '/certs', '/admin', '/ca', '/etc/tls', '/etc/tls/ca', '/etc/tls/ca/', '/etc/tls/contour', '/etc/tls/envoy/x', '/etc']
// Where existing TLS points: certgen's files, a file no volume holds, and a path under ours.
const TLS_VALUES = ['/certs/ca.crt', '/certs/tls.crt', '/certs/tls.key', '/ca/cacert.pem', '/certs/x', '/host/tls.crt', '/etc/tls/ca/ca.crt']
// certgen's names (with and without a suffix) and names that are someone else's.
const CERT_SECRET_NAMES = ['contourcert', 'envoycert', 'contourcert-gw', 'envoycert-gw', 'cacert', 'cacert-gw', 'my-certs']

const flagArb = fc.oneof(
  { weight: 16, arbitrary: fc.constantFrom('--incluster', '--insecure', '--insecure=true', '--xds-port=8001', '--', '-v') },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...TLS_FLAGS), fc.constantFrom(...TLS_VALUES)).map(([flag, value]) => `${flag}=${value}`) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...TLS_FLAGS, '--xds-address'), fc.constantFrom(...TLS_VALUES, 'contour')).map(([flag, value]) => [flag, value]) },
  { weight: 1, arbitrary: fc.constantFrom('--contour-config-name=gw', ['--contour-config-name', 'gw'], '--contour-config-name=') },
)

/** The full sets certgen's manifests use: how most pods with TLS look, so the generator reaches take-overs often. */
const CERTGEN_ARGV: readonly string[][] = [
  ['contour', 'serve', '--incluster', '--contour-cafile=/certs/ca.crt', '--contour-cert-file=/certs/tls.crt', '--contour-key-file=/certs/tls.key'],
  ['contour', 'serve', '--contour-cafile', '/ca/cacert.pem', '--contour-cert-file', '/certs/tls.crt', '--contour-key-file=/certs/tls.key'],
  ['contour', 'serve', '--incluster', '--contour-config-name=gw', '--contour-cafile=/certs/ca.crt', '--contour-cert-file=/certs/tls.crt', '--contour-key-file=/certs/tls.key'],
  ['contour', 'bootstrap', '/config/envoy.json', '--resources-dir=/config/resources', '--envoy-cafile=/certs/ca.crt', '--envoy-cert-file=/certs/tls.crt', '--envoy-key-file=/certs/tls.key'],
  ['contour', 'bootstrap', '/config/envoy.json', '--envoy-cafile=/ca/cacert.pem', '--envoy-cert-file', '/certs/tls.crt', '--envoy-key-file', '/certs/tls.key'],
]

const argvArb: fc.Arbitrary<string[]> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .tuple(fc.constantFrom('contour', '/bin/contour'), fc.constantFrom('serve', 'bootstrap', 'certgen', 'envoy'), fc.array(flagArb, { maxLength: 5 }))
      .map(([exe, sub, flags]) => [exe, sub, ...flags.flat()]),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom<string[]>(
      ['contour', 'serve', '--contour-cafile=/c', '--contour-cert-file', '/t', '--contour-key-file=/k'],
      ['contour', 'bootstrap', '/config/envoy.json', '--envoy-cafile=/c', '--envoy-cert-file=/t', '--envoy-key-file', '/k'],
    ),
  },
  { weight: 3, arbitrary: fc.constantFrom(...CERTGEN_ARGV).map((argv) => [...argv]) },
  { weight: 4, arbitrary: fc.constantFrom<string[]>(['envoy', '-c', '/config/envoy.json'], ['/bin/contour', 'envoy', 'shutdown-manager'], ['nginx'], []) },
  {
    weight: 1,
    arbitrary: fc.constantFrom('contour serve --insecure', 'exec envoy -c x', 'echo hi', 'contour bootstrap /c').map((script) => ['sh', '-c', script]),
  },
)

/** Splits an argv between command and args the ways manifests do (either may be absent). */
const splitArgvArb = argvArb.chain((argv) =>
  fc.tuple(fc.constant(argv), fc.integer({ min: -1, max: argv.length })).map(([all, at]) =>
    at === -1 ? { args: all } : at === all.length ? { command: all } : { command: all.slice(0, at), args: all.slice(at) },
  ),
)

const volumeArb: fc.Arbitrary<V1Volume> = fc.tuple(fc.constantFrom(...VOLUME_NAMES), fc.integer({ min: 0, max: 5 }), fc.constantFrom(...CERT_SECRET_NAMES)).map(([name, variant, certName]) => {
  const secretName = { 'contour-tls-injection-ca': 'contour-ca', 'contour-tls-injection-contour': 'contour-tls', 'contour-tls-injection-envoy': 'envoy-tls' }[name] ?? name
  const ours = name.startsWith('contour-tls-injection-')
  if (variant >= 4 && !ours) return variant === 4 ? { name, secret: { secretName: certName } } : { name, secret: { secretName: certName, items: [{ key: 'ca.crt', path: 'cacert.pem' }, { key: 'tls.crt', path: 'tls.crt' }] } }
  if (variant === 0) return { name, emptyDir: {} }
  if (variant === 1) return { name, configMap: { name } }
  if (variant === 2) return { name, secret: { secretName, optional: true } }
  return { name, secret: { secretName, optional: true, defaultMode: 420 } }
})

// Biased towards our own names and paths, where the collisions are.
const mountArb: fc.Arbitrary<V1VolumeMount> = fc.record(
  {
    name: fc.constantFrom(...VOLUME_NAMES),
    mountPath: fc.oneof(fc.constantFrom(...MOUNT_PATHS), fc.constantFrom('/etc/tls/ca', '/etc/tls/contour', '/etc/tls/envoy')),
    readOnly: fc.boolean(),
  },
  { requiredKeys: ['name', 'mountPath'] },
)

const containerArb: fc.Arbitrary<V1Container> = fc
  .record({
    name: fc.oneof(
      { weight: 30, arbitrary: fc.constantFrom('contour', 'envoy', 'envoy-initconfig', 'shutdown-manager', 'sidecar') },
      { weight: 1, arbitrary: fc.constant('bootstrap-tls') },
    ),
    argv: splitArgvArb,
    env: fc.oneof(
      { weight: 6, arbitrary: fc.constant(undefined) },
      { weight: 1, arbitrary: fc.subarray(TLS_ENV).chain((names) => fc.tuple(...names.map((name) => fc.constantFrom(...TLS_VALUES).map((value) => ({ name, value }))))) },
      { weight: 1, arbitrary: fc.constantFrom(...TLS_ENV).map((name) => [{ name, valueFrom: { configMapKeyRef: { name: 'paths', key: 'k' } } }]) },
    ),
    volumeMounts: fc.option(fc.array(mountArb, { maxLength: 3 }), { nil: undefined }),
  })
  .map(({ name, argv, env, volumeMounts }) => ({ name, ...argv, ...(env === undefined ? {} : { env }), ...(volumeMounts === undefined ? {} : { volumeMounts }) }))

const annotationsArb = fc.option(
  fc.dictionary(
    fc.oneof(
      { weight: 1, arbitrary: fc.constantFrom(Annotations.inject, Annotations.status) },
      { weight: 4, arbitrary: fc.constantFrom(Annotations.rotate, 'a/b~c', 'prometheus.io/port') },
    ),
    fc.constantFrom('false', 'true', 'injected; role=contour', 'junk', ''),
    { maxKeys: 3 },
  ),
  { nil: undefined },
)

/** A pod the apiserver would accept: unique volume names, mounts backed by volumes, unique paths. */
const validPodArb: fc.Arbitrary<V1Pod> = fc
  .record({
    annotations: annotationsArb,
    initContainers: fc.option(fc.array(containerArb, { maxLength: 2 }), { nil: undefined }),
    containers: fc.array(containerArb, { minLength: 1, maxLength: 3 }),
    volumes: fc.option(fc.uniqueArray(volumeArb, { selector: (volume) => volume.name, maxLength: 4 }), { nil: undefined, freq: 4 }),
    // Half the time, certgen's Secret volumes wired where the argv points (as real installs have them).
    certgen: fc.option(fc.tuple(fc.constantFrom(...CERT_SECRET_NAMES), fc.constantFrom(...CERT_SECRET_NAMES)), { nil: undefined }),
  })
  .map(({ annotations, initContainers: rawInit, containers: rawContainers, volumes: rawVolumes, certgen }) => {
    let volumes = rawVolumes
    let initContainers = rawInit
    let containers = rawContainers
    if (certgen !== undefined) {
      const wired: V1Volume[] = [{ name: 'certs', secret: { secretName: certgen[0] } }, { name: 'cacert', secret: { secretName: certgen[1] } }]
      volumes = [...wired, ...(volumes ?? []).filter((volume) => volume.name !== 'certs' && volume.name !== 'cacert')]
      const wire = (container: V1Container): V1Container => ({
        ...container,
        volumeMounts: [{ name: 'certs', mountPath: '/certs', readOnly: true }, { name: 'cacert', mountPath: '/ca' }, ...(container.volumeMounts ?? [])],
      })
      initContainers = initContainers?.map(wire)
      containers = containers.map(wire)
    }
    const names = new Set((volumes ?? []).map((volume) => volume.name))
    const fix = (container: V1Container): V1Container => {
      if (container.volumeMounts === undefined) return container
      const paths = new Set<string>()
      const volumeMounts = container.volumeMounts.filter((mount) => {
        const path = mount.mountPath.replace(/\/$/, '')
        if (!names.has(mount.name) || paths.has(path)) return false
        paths.add(path)
        return true
      })
      return { ...container, volumeMounts }
    }
    const spec = {
      containers: containers.map(fix),
      ...(initContainers === undefined ? {} : { initContainers: initContainers.map(fix) }),
      ...(volumes === undefined ? {} : { volumes }),
    }
    return { apiVersion: 'v1', kind: 'Pod', ...(annotations === undefined ? {} : { metadata: { annotations } }), spec }
  })

/** A valid pod with one member replaced by anything at all. */
const junkPodArb: fc.Arbitrary<unknown> = fc
  .tuple(validPodArb, fc.constantFrom('metadata', 'spec.containers.0', 'spec.containers.0.args', 'spec.volumes', 'spec.containers.0.volumeMounts', 'spec.initContainers'), fc.anything())
  .map(([pod, path, junk]) => {
    const copy: Record<string, unknown> = structuredClone(pod) as Record<string, unknown>
    const keys = path.split('.')
    let target: unknown = copy
    for (const key of keys.slice(0, -1)) target = (target as Record<string, unknown> | undefined)?.[key]
    if (typeof target === 'object' && target !== null) (target as Record<string, unknown>)[keys.at(-1) ?? ''] = junk
    return copy
  })

function listContainers(pod: V1Pod): V1Container[] {
  return [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])]
}

function isValidPod(pod: V1Pod): boolean {
  const names = (pod.spec?.volumes ?? []).map((volume) => volume.name)
  if (new Set(names).size !== names.length) return false
  return listContainers(pod).every((container) => {
    const mounts = container.volumeMounts ?? []
    const paths = mounts.map((mount) => mount.mountPath.replace(/\/$/, ''))
    return new Set(paths).size === paths.length && mounts.every((mount) => names.includes(mount.name))
  })
}

function checkResultShape(result: InjectionResult): void {
  if (result.outcome === 'skipped') {
    if (result.patch.length !== 0) throw new Error('skipped with a patch')
    if (result.warnings.length !== (WARNED_SKIP_REASONS.has(result.reason) ? 1 : 0)) throw new Error('warning mismatch')
  } else {
    const takeOverWarnings = result.warnings.filter((w) => w.includes('took over TLS from'))
    const others = result.warnings.filter((w) => !takeOverWarnings.includes(w) && !w.includes('runs without --resources-dir'))
    if (takeOverWarnings.length !== (result.replaced.length > 0 ? 1 : 0) || others.length > 0 || result.patch.length === 0) {
      throw new Error('injected needs a patch, a warning exactly when it took over existing TLS, and no other warning than the one about Envoy reloading')
    }
  }
}

/** Applies the patch, checks the result and proves a second pass (with or without our annotation) is a no-op. */
function checkPatched(pod: unknown, result: InjectionResult, requireValid: boolean): void {
  if (encodePatch(result.patch) !== JSON.stringify(result.patch)) throw new Error('encodePatch differs from JSON.stringify')
  const output = applyJsonPatch(pod, result.patch) as V1Pod
  if (requireValid && !isValidPod(output)) throw new Error(`invalid pod after injection: ${JSON.stringify(output)}`)
  if (output.spec?.initContainers?.[0]?.name !== 'bootstrap-tls') throw new Error('bootstrap-tls is not first')
  if (result.outcome === 'injected' && result.replaced.length > 0 && requireValid) {
    // Every file Contour and Envoy read afterwards comes from our set (the test's own resolution).
    const suffix = /^--contour-secret=contour-tls(.*)$/.exec(output.spec.initContainers[0]?.args?.find((arg) => arg.startsWith('--contour-secret=')) ?? '')?.[1] ?? ''
    const names = { contour: `contour-tls${suffix}`, envoy: `envoy-tls${suffix}`, ca: `contour-ca${suffix}` }
    const problems = findForeignReads(output, names, '/etc/tls')
    if (problems.length > 0) throw new Error(`take-over left foreign files: ${problems.join('; ')}: ${JSON.stringify(pod)}`)
  }
  const again = injectPod(output, settings)
  if (again.outcome !== 'skipped' || again.reason !== SkipReasons.alreadyInjected || again.warnings.length > 0) {
    throw new Error(`second pass: ${JSON.stringify(again)}`)
  }
  const withoutStatus = structuredClone(output)
  delete withoutStatus.metadata?.annotations?.[Annotations.status]
  if (injectPod(withoutStatus, settings).patch.length !== 0) throw new Error('the init container alone must mark the pod')
}

t.test('valid pods: a patch that applies, a valid pod, a no-op second pass', async (t) => {
  const seen = new Map<string, number>()
  fc.assert(
    fc.property(validPodArb, (pod) => {
      const before = structuredClone(pod)
      const result = injectPod(pod, settings)
      const key = result.outcome === 'skipped' ? result.reason : `${result.replaced.length > 0 ? 'taken-over' : 'injected'}:${result.role}`
      seen.set(key, (seen.get(key) ?? 0) + 1)
      checkResultShape(result)
      if (JSON.stringify(pod) !== JSON.stringify(before)) throw new Error('input mutated')
      if (result.outcome === 'injected') checkPatched(pod, result, true)
    }),
    { numRuns: NUM_RUNS },
  )
  t.comment(`outcomes: ${JSON.stringify(Object.fromEntries([...seen].sort()))}`)
  for (const outcome of ['injected:contour', 'injected:envoy', 'injected:co-located', 'taken-over:contour', 'taken-over:envoy', 'already-injected', 'tls-configured', 'existing-tls-kept', 'contour-config-name', 'partial-tls-flags', 'shell-wrapped', 'mount-path-taken', 'volume-name-taken']) {
    t.ok((seen.get(outcome) ?? 0) > 0, `generator reaches ${outcome}`)
  }
})

const sidecarSettings = Object.freeze({ ...settings, bootstrapMode: 'sidecar' as const })


t.test('sidecar mode: the same decisions as init mode; only a Contour pod\'s bootstrap-tls differs', async (t) => {
  const seen = new Map<string, number>()
  fc.assert(
    fc.property(validPodArb, (pod) => {
      const init = injectPod(pod, settings)
      const sidecar = injectPod(pod, sidecarSettings)
      if (sidecar.outcome !== init.outcome || (sidecar.outcome === 'skipped' && init.outcome === 'skipped' && sidecar.reason !== init.reason)) throw new Error('the modes decide differently')
      if (JSON.stringify(sidecar.warnings) !== JSON.stringify(init.warnings)) throw new Error('the modes warn differently')
      if (sidecar.outcome !== 'injected' || init.outcome !== 'injected') return
      checkPatched(pod, sidecar, true)
      const a = applyJsonPatch(pod, init.patch) as V1Pod
      const b = applyJsonPatch(pod, sidecar.patch) as V1Pod
      const bInit = b.spec?.initContainers?.[0]
      if (sidecar.role === 'envoy') {
        if (JSON.stringify(a) !== JSON.stringify(b)) throw new Error('an Envoy pod differs between the modes')
      } else {
        if (bInit?.restartPolicy !== 'Always' || bInit.startupProbe?.exec?.command?.includes('--probe') !== true) throw new Error('no native sidecar in a Contour pod')
        if (JSON.stringify(withoutModeFields(a)) !== JSON.stringify(withoutModeFields(b))) throw new Error('a Contour pod differs by more than the sidecar fields')
      }
      if (injectPod(a, sidecarSettings).patch.length !== 0 || injectPod(b, settings).patch.length !== 0) throw new Error('a pod injected in one mode is injected again in the other')
      seen.set(sidecar.role, (seen.get(sidecar.role) ?? 0) + 1)
    }),
    { numRuns: NUM_RUNS },
  )
  t.comment(`injected in both modes: ${JSON.stringify(Object.fromEntries([...seen].sort()))}`)
  for (const role of ['contour', 'envoy', 'co-located']) t.ok((seen.get(role) ?? 0) > 0, `generator reaches ${role}`)
})

t.test('junk anywhere: never throws, and any patch still applies', async (t) => {
  fc.assert(
    fc.property(fc.oneof(junkPodArb, fc.anything()), (pod) => {
      const result = injectPod(pod, settings)
      checkResultShape(result)
      if (result.outcome === 'injected') checkPatched(pod, result, false)
    }),
    { numRuns: NUM_RUNS },
  )
  t.pass('no exceptions')
})

t.test('the engine reads nothing outside the inputs the admission memo compares', async (t) => {
  let reads = 0
  fc.assert(
    fc.property(fc.oneof(validPodArb, junkPodArb), (pod) => {
      const paths: string[][] = []
      const direct = injectPod(structuredClone(pod), settings)
      const recorded = injectPod(recordReads(structuredClone(pod), paths), settings)
      if (JSON.stringify(recorded) !== JSON.stringify(direct)) throw new Error('a recorded pod must inject the same way')
      const outside = paths.filter((path) => !isEngineInput(path))
      if (outside.length > 0) throw new Error(`the engine read ${outside.map((path) => path.join('.')).join(', ')}`)
      reads += paths.length
    }),
    { numRuns: NUM_RUNS },
  )
  t.ok(reads > NUM_RUNS, `recorded ${reads} reads`)
})

t.test('the admission memo answers exactly as the engine does, for repeated and near-identical pods', async (t) => {
  let hits = 0
  fc.assert(
    fc.property(fc.array(fc.oneof(validPodArb, junkPodArb, fc.anything()), { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 12 }), (pods, picks) => {
      const memo = createAdmissionMemo(settings, 4)
      // Each pod, then repeats in a random order; copies, so a hit never relies on identity.
      const sequence = [...pods, ...picks.map((pick) => pods[pick % pods.length])]
      for (const pod of sequence) {
        const copy = structuredClone(pod)
        const expected = decidePod(structuredClone(pod), settings)
        let outcome = memo.lookup(copy)
        if (outcome === undefined) {
          outcome = decidePod(copy, settings)
          memo.remember(copy, outcome)
        } else hits++
        if (JSON.stringify(outcome) !== JSON.stringify(expected)) throw new Error(`memo ${JSON.stringify(outcome)} != engine ${JSON.stringify(expected)}`)
      }
    }),
    { numRuns: NUM_RUNS },
  )
  t.ok(hits > 0, `the memo was hit ${hits} times`)
})
