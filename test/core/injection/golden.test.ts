// Golden tests: every Contour release's Deployment/DaemonSet pods and hand-written edge cases
// go through injectPod; each patch is applied, checked against the design, compared with its
// reviewed golden file, and injected again to prove idempotence.
// Regenerate with `npm run golden:update`, then review the diff.
import { readdirSync } from 'node:fs'
import path from 'node:path'
import type { V1Pod } from '@kubernetes/client-node'
import t from 'tap'
import { withoutModeFields } from './support/without-mode-fields.ts'
import type { Test } from 'tap'
import { encodePatch } from '../../../src/core/injection/encode-patch.ts'
import { defaultInjectionSettings, injectPod } from '../../../src/core/injection/inject-pod.ts'
import { WARNED_SKIP_REASONS } from '../../../src/core/injection/types.ts'
import type { InjectionSettings, PodRole, SkipReason } from '../../../src/core/injection/types.ts'
import { checkInjectedPod } from './support/check-injected-pod.ts'
import { checkTakenOverPod } from './support/check-taken-over-pod.ts'
import { applyJsonPatch, casesDir, checkStaleGoldens, compareGolden, goldenDir, readYamlFile } from './support/golden-files.ts'
import { loadChartCases, loadUpstreamCases } from './support/load-upstream-pods.ts'
import { classifyContainer, hasUpstreamTls, listContainers, makeInsecureVariant, upstreamReplaced } from './support/upstream-variants.ts'

const settings = defaultInjectionSettings('golden', 'contour-tls-injector:golden')

interface IndexEntry {
  name: string
  sources?: string[]
  outcome: 'injected' | 'skipped'
  role?: PodRole
  reason?: SkipReason
  replaced?: string[]
}

/** The role the design gives a pod, read by the test's own classification. */
function expectRole(pod: V1Pod): PodRole {
  const roles = new Set(listContainers(pod).map(classifyContainer))
  const envoySide = roles.has('bootstrap') || roles.has('envoy')
  return roles.has('serve') ? (envoySide ? 'co-located' : 'contour') : 'envoy'
}

interface TakeOverCase {
  readonly replaced: readonly string[]
  /** certgen's instance suffix; '' when none. */
  readonly suffix: string
}

/** Injects, applies, checks, compares with the golden file and proves a second pass is a no-op. */
function runInjectedCase(
  t: Test,
  pod: V1Pod,
  options: { goldenFile: string; settings: InjectionSettings; role: PodRole; source?: string; takeOver?: TakeOverCase },
): void {
  const before = structuredClone(pod)
  const result = injectPod(pod, options.settings)
  t.same(pod, before, 'input not mutated')
  if (result.outcome !== 'injected') {
    t.fail(`expected injection, got ${result.outcome} (${result.reason})`)
    return
  }
  t.equal(result.role, options.role, 'role')
  const { takeOver } = options
  t.same(result.replaced, takeOver?.replaced ?? [], 'replaced Secrets')
  // contour bootstrap without --resources-dir: Envoy reads its certificates once, and the pod is told.
  const staticEnvoy = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].some((c) => {
    const argv = [...(c.command ?? []), ...(c.args ?? [])]
    return argv[0]?.endsWith('contour') === true && argv.includes('bootstrap') && !argv.some((a) => a.startsWith('--resources-dir'))
  })
  const staticWarnings = result.warnings.filter((w) => /runs without --resources-dir, so Envoy reads its certificates only when it starts/.test(w))
  t.equal(staticWarnings.length, staticEnvoy ? 1 : 0, staticEnvoy ? 'one warning: Envoy reads its certificates only at start' : 'no warning about Envoy reloading')
  const others = result.warnings.filter((w) => !staticWarnings.includes(w))
  if (takeOver === undefined) t.same(others, [], 'no other warnings')
  else {
    t.equal(others.length, 1, 'one warning says what was taken over')
    for (const name of takeOver.replaced) t.match(others[0], name, `the warning names ${name}`)
    const certgen = takeOver.replaced.every((name) => /^(contourcert|envoycert|cacert)/.test(name))
    t.match(others[0], certgen ? /certgen's Job and th(is|ese) Secrets? may be deleted/ : /no longer read/, 'the warning says what may be cleaned up')
  }
  t.equal(encodePatch(result.patch), JSON.stringify(result.patch), 'the encoded patch is JSON.stringify byte for byte')
  const output = applyJsonPatch(pod, result.patch)
  if (takeOver === undefined) checkInjectedPod(t, pod, output, result.role, options.settings)
  else {
    const names = options.settings.secretNames
    const secretNames = { contour: `${names.contour}${takeOver.suffix}`, envoy: `${names.envoy}${takeOver.suffix}`, ca: `${names.ca}${takeOver.suffix}` }
    checkTakenOverPod(t, pod, output, result.role, options.settings, { replaced: takeOver.replaced, secretNames })
  }
  compareGolden(t, options.goldenFile, output, options.source)
  t.same(injectPod(output, options.settings), { outcome: 'skipped', reason: 'already-injected', patch: [], warnings: [] }, 'second pass is a no-op')
}

const index: IndexEntry[] = []
const goldenFiles = new Set<string>()
const caseGoldenFiles = new Set<string>()
const upstream = loadUpstreamCases()

function runUpstreamCase(t: Test, name: string, sources: readonly string[], pod: V1Pod): void {
  const role = expectRole(pod)
  goldenFiles.add(`${name}.injected.yaml`)
  if (!hasUpstreamTls(pod)) {
    // v0.15.0: co-located and --insecure, injected as it ships.
    runInjectedCase(t, pod, { goldenFile: path.join(goldenDir, `${name}.injected.yaml`), settings, role, source: sources.join(', ') })
    index.push({ name, sources: [...sources], outcome: 'injected', role })
    return
  }
  // As shipped, with certgen's TLS: taken over under the default policy, kept under keep.
  const replaced = upstreamReplaced(pod)
  runInjectedCase(t, pod, { goldenFile: path.join(goldenDir, `${name}.injected.yaml`), settings, role, source: sources.join(', '), takeOver: { replaced, suffix: '' } })
  index.push({ name, sources: [...sources], outcome: 'injected', role, replaced })
  t.same(injectPod(pod, { ...settings, existingTls: 'keep' }), { outcome: 'skipped', reason: 'tls-configured', patch: [], warnings: [] }, '--existing-tls=keep leaves certgen TLS alone, silently')
  const variantName = `${name}--insecure`
  const variant = makeInsecureVariant(pod)
  t.notOk(hasUpstreamTls(variant), 'the insecure variant has no TLS flags')
  goldenFiles.add(`${variantName}.injected.yaml`)
  t.test(variantName, async (t) => {
    runInjectedCase(t, variant, {
      goldenFile: path.join(goldenDir, `${variantName}.injected.yaml`),
      settings,
      role: expectRole(variant),
      source: `${sources.join(', ')} without certgen TLS, with --insecure`,
    })
  })
  index.push({ name: variantName, outcome: 'injected', role: expectRole(variant) })
}

t.test('upstream Contour manifests', async (t) => {
  t.ok(upstream.length >= 15, `found ${upstream.length} pod templates`)
  for (const { name, sources, pod } of upstream) t.test(name, async (t) => runUpstreamCase(t, name, sources, pod))
})

t.test('rendered official and Bitnami charts', async (t) => {
  const charts = loadChartCases()
  t.equal(charts.length, 4, 'a Contour Deployment and an Envoy DaemonSet per chart')
  for (const { name, sources, pod } of charts) t.test(name, async (t) => runUpstreamCase(t, name, sources, pod))
})

// Sidecar mode: the same pods with `bootstrapMode: sidecar`. Contour pods (plain, co-located,
// taken over from certgen) get a native sidecar and nothing else differs from init mode; Envoy
// pods come out exactly as in init mode.
const sidecarSettings: InjectionSettings = Object.freeze({ ...settings, bootstrapMode: 'sidecar' })
const SIDECAR_CASES = [
  'v1.33.6--03-contour--deployment-contour--insecure',
  'v0.15.0--02-contour--daemonset-contour',
  'v1.33.6--03-envoy--daemonset-envoy',
  'v1.33.6--03-contour--deployment-contour',
] as const

t.test('sidecar mode', async (t) => {
  for (const name of SIDECAR_CASES) {
    t.test(name, async (t) => {
      const base = name.replace(/--insecure$/, '')
      const found = upstream.find((c) => c.name === base)
      if (found === undefined) {
        t.fail(`no upstream case ${base}`)
        return
      }
      const pod = name.endsWith('--insecure') ? makeInsecureVariant(found.pod) : found.pod
      const role = expectRole(pod)
      const takeOver = hasUpstreamTls(pod) ? { replaced: upstreamReplaced(pod), suffix: '' } : undefined
      goldenFiles.add(`${name}--sidecar.injected.yaml`)
      runInjectedCase(t, pod, {
        goldenFile: path.join(goldenDir, `${name}--sidecar.injected.yaml`),
        settings: sidecarSettings,
        role,
        source: `${found.sources.join(', ')}${name.endsWith('--insecure') ? ' without certgen TLS, with --insecure' : ''}, bootstrapMode: sidecar`,
        ...(takeOver === undefined ? {} : { takeOver }),
      })
      const sidecarOut = applyJsonPatch(pod, injectPod(pod, sidecarSettings).patch)
      const initOut = applyJsonPatch(pod, injectPod(pod, settings).patch)
      if (role === 'envoy') t.same(sidecarOut, initOut, 'an Envoy pod is the same in both modes')
      else {
        t.notSame(sidecarOut, initOut, 'a Contour pod differs between the modes')
        t.same(withoutModeFields(sidecarOut), withoutModeFields(initOut), 'and only by the sidecar fields and memory limit of bootstrap-tls')
        const limits = (pod: V1Pod): unknown => pod.spec?.initContainers?.[0]?.resources?.limits?.memory
        t.same([limits(initOut), limits(sidecarOut)], ['128Mi', '192Mi'], 'room for the probe\'s Node beside the sidecar\'s')
      }
      const skipped = { outcome: 'skipped', reason: 'already-injected', patch: [], warnings: [] }
      t.same(injectPod(initOut, sidecarSettings), skipped, 'a pod injected in init mode gets no patch in sidecar mode')
      t.same(injectPod(sidecarOut, settings), skipped, 'a pod injected in sidecar mode gets no patch in init mode')
    })
  }
})

interface CaseExpectation {
  description: string
  outcome: 'injected' | 'skipped'
  role?: PodRole
  reason?: SkipReason
  warning?: boolean
  settings?: Partial<InjectionSettings>
  /** A take-over: the Secrets replaced, and certgen's instance suffix when there is one. */
  replaced?: string[]
  suffix?: string
}

const caseNames = readdirSync(casesDir)
  .filter((file) => file.endsWith('.yaml') && !file.endsWith('.expect.yaml') && !file.endsWith('.injected.yaml'))
  .map((file) => file.replace(/\.yaml$/, ''))
  .sort()

t.test('hand-written cases', async (t) => {
  t.ok(caseNames.length >= 15, `found ${caseNames.length} cases`)
  for (const name of caseNames) {
    t.test(name, async (t) => {
      const pod = readYamlFile(path.join(casesDir, `${name}.yaml`)) as V1Pod
      const expectation = readYamlFile(path.join(casesDir, `${name}.expect.yaml`)) as CaseExpectation
      const caseSettings = { ...settings, ...expectation.settings }
      if (expectation.outcome === 'injected') {
        caseGoldenFiles.add(`${name}.injected.yaml`)
        runInjectedCase(t, pod, {
          goldenFile: path.join(casesDir, `${name}.injected.yaml`),
          settings: caseSettings,
          role: expectation.role ?? expectRole(pod),
          source: `test/fixtures/injection/cases/${name}.yaml`,
          ...(expectation.replaced === undefined ? {} : { takeOver: { replaced: expectation.replaced, suffix: expectation.suffix ?? '' } }),
        })
        return
      }
      const result = injectPod(pod, caseSettings)
      t.equal(result.outcome, 'skipped')
      if (result.outcome !== 'skipped') return
      t.equal(result.reason, expectation.reason, 'skip reason')
      t.same(result.patch, [], 'no patch')
      t.equal(result.warnings.length, expectation.warning === true ? 1 : 0, 'warning when the reason deserves one')
      t.equal(WARNED_SKIP_REASONS.has(result.reason), expectation.warning === true, 'the reason is a warned one')
      for (const warning of result.warnings) t.match(warning, `(${result.reason})`, 'warning names the reason')
    })
  }
})

t.test('golden bookkeeping', async (t) => {
  compareGolden(t, path.join(goldenDir, 'index.yaml'), { cases: index })
  checkStaleGoldens(t, goldenDir, goldenFiles, '.injected.yaml')
  checkStaleGoldens(t, casesDir, caseGoldenFiles, '.injected.yaml')
})
