// What the sidecar mode's startup probe must agree with outside the injection engine: the image's
// ENTRYPOINT (an exec probe does not go through it, so the probe spells it out) and bootstrap-tls's
// own flags (the probe gives up about when --wait-timeout does; --probe and --colocated exist).
import { readFile } from 'node:fs/promises'
import t from 'tap'
import { FLAG_SPECS, parseBootstrapConfig } from '../../../src/bootstrap/config.ts'
import { parseDuration } from '../../../src/bootstrap/duration.ts'
import { IMAGE_ENTRYPOINT, STARTUP_PROBE_TIMING } from '../../../src/core/injection/build-init-container.ts'
import { defaultInjectionSettings, injectPod } from '../../../src/core/injection/inject-pod.ts'

t.test('the probe command starts with the Dockerfile\'s ENTRYPOINT', async (t) => {
  const dockerfile = await readFile(new URL('../../../Dockerfile', import.meta.url), 'utf8')
  const line = /^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)?.[1]
  t.ok(line, 'the Dockerfile has an exec-form ENTRYPOINT')
  t.same(IMAGE_ENTRYPOINT, JSON.parse(line ?? '[]'))
})

t.test('the probe gives up when bootstrap-tls\'s default --wait-timeout does', async (t) => {
  const waitMs = parseDuration('wait-timeout', FLAG_SPECS['wait-timeout'].default)
  const { periodSeconds, failureThreshold } = STARTUP_PROBE_TIMING
  t.equal(periodSeconds * failureThreshold * 1000, waitMs)
})

t.test('the probe\'s arguments are a valid bootstrap-tls --probe command line', async (t) => {
  const settings = { ...defaultInjectionSettings('v', 'img'), bootstrapMode: 'sidecar' as const, mountRoot: '/var/tls' }
  const pod = {
    metadata: { name: 'p' },
    spec: { containers: [{ name: 'c', image: 'contour', command: ['contour'], args: ['serve', '--insecure'] }, { name: 'e', image: 'envoy', command: ['envoy'] }] },
  }
  const result = injectPod(pod, settings)
  t.equal(result.outcome, 'injected')
  const add = result.patch.find((op) => op.path.startsWith('/spec/initContainers'))
  const init = add !== undefined && 'value' in add ? ([add.value].flat()[0] as { startupProbe?: { exec?: { command?: string[] } } }) : undefined
  const command = init?.startupProbe?.exec?.command ?? []
  const args = command.slice(IMAGE_ENTRYPOINT.length + 1)
  t.equal(command[IMAGE_ENTRYPOINT.length], 'bootstrap-tls')
  t.same(parseBootstrapConfig(args, {}), { mode: 'probe', tlsDir: '/var/tls', colocated: true }, 'a co-located pod under /var/tls')
})
