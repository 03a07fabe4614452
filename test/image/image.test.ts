// The built image, run through buildah the way a container runtime runs it: the image's USER
// and ENTRYPOINT, a host directory mounted as the init container's output, the webhook reached
// from the host over TLS. The image is CTI_IMAGE, else the one scripts/build-image.sh wrote to
// .local-cluster/image-ref. Without one the test fails in CI and is skipped, with the reason,
// elsewhere.
import t from 'tap'
import { chown, mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { checkCertificateSet } from '../../src/core/certs/check-set.ts'
import { freePort, httpsRequest } from '../helpers/https-client.ts'
import { createBuildah, findDescendant } from './buildah.ts'
import { WEBHOOK_NODE_FLAGS } from '../../scripts/bench/node-flags.ts'

const REPO = fileURLToPath(new URL('../../', import.meta.url))
const NOBODY = 65534
const ENTRYPOINT = ['/usr/local/bin/node', '--max-semi-space-size=2', '/app/dist/cli.js']
const HINT = 'run bash scripts/build-image.sh (or set CTI_IMAGE)'
const buildah = createBuildah({ storageDriver: process.env.CTI_STORAGE_DRIVER })
const { version } = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as { version: string }
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function findImage(): Promise<{ image: string } | { missing: string }> {
  const image = process.env.CTI_IMAGE || (await readFile(join(REPO, '.local-cluster/image-ref'), 'utf8').catch(() => '')).trim()
  if (!image) return { missing: `no image: ${HINT}` }
  try {
    await buildah.run(['inspect', '--type', 'image', image])
    return { image }
  } catch (err) {
    return { missing: `${image} is not in buildah's local storage (${(err as Error).message.split('\n')[0]}): ${HINT}` }
  }
}

async function tempDirOwnedByNobody(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  await chown(dir, NOBODY, NOBODY)
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

const found = await findImage()
if ('missing' in found) {
  if (process.env.CI) t.fail(found.missing)
  else t.test('the built image', { skip: found.missing }, () => {})
} else {
  const { image } = found
  const config = await buildah.imageConfig(image)
  const entrypoint = [...(config.Entrypoint ?? [])]
  const container = (await buildah.run(['from', '--name', `cti-image-test-${process.pid}`, image])).trim()
  t.teardown(() => buildah.run(['rm', container]))
  /** `buildah run` with the image's entrypoint (it applies the image's USER, not its ENTRYPOINT). */
  const runArgs = (args: readonly string[], volumes: readonly string[] = [], command: readonly string[] = entrypoint) =>
    ['run', ...volumes.flatMap((v) => ['--volume', v]), container, '--', ...command, ...args]
  /** The chart's webhook Deployment overrides the entrypoint with its own node flags. */
  const chartWebhookCommand = [ENTRYPOINT[0]!, ...WEBHOOK_NODE_FLAGS, ENTRYPOINT[ENTRYPOINT.length - 1]!]

  t.comment(`image ${image}: ${await buildah.imageSize(image)}`)

  t.test('configuration: user 65534, the CLI as entrypoint, OCI labels', async (t) => {
    t.equal(config.User, `${NOBODY}:${NOBODY}`, 'USER')
    t.same(entrypoint, ENTRYPOINT, 'ENTRYPOINT')
    const labels = config.Labels ?? {}
    t.equal(labels['org.opencontainers.image.title'], 'contour-tls-injector')
    t.equal(labels['org.opencontainers.image.version'], version)
    t.equal(labels['org.opencontainers.image.licenses'], 'Apache-2.0')
    t.match(labels['org.opencontainers.image.source'], /^https:\/\//)
    t.ok(labels['org.opencontainers.image.description'])
  })

  t.test('no shell, no node_modules, and node is the only executable', async (t) => {
    const root = (await buildah.run(['mount', container])).trim()
    t.teardown(() => buildah.run(['unmount', container]))
    const executables: string[] = []
    let nodeModules = 0
    for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
      const path = join(entry.parentPath, entry.name).slice(root.length)
      if (entry.name === 'node_modules') nodeModules++
      if (/^(sh|bash|dash|ash|busybox)$/.test(entry.name)) t.fail(`the image has a shell: ${path}`)
      if (entry.isFile() && !/\.so(\.\d+)*$/.test(entry.name) && ((await stat(join(root, path))).mode & 0o111) !== 0) executables.push(path)
    }
    await t.rejects(stat(join(root, 'bin/sh')), { code: 'ENOENT' }, 'no /bin/sh')
    t.equal(nodeModules, 0, 'the bundle needs no node_modules')
    t.same(executables, ['/usr/local/bin/node'], 'executables')
  })

  t.test('version and webhook --help', async (t) => {
    t.equal((await buildah.run(runArgs(['version']))).trim(), `contour-tls-injector ${version}`)
    t.match(await buildah.run(runArgs(['webhook', '--help'])), /^Usage: contour-tls-injector webhook/m)
  })

  t.test('bootstrap-tls --out-dir writes a set that checkCertificateSet accepts', async (t) => {
    const out = await tempDirOwnedByNobody('cti-image-out-')
    await buildah.run(runArgs(['bootstrap-tls', '--out-dir', '/out'], [`${out}:/out`]))
    const read = (file: string) => readFile(join(out, file), 'utf8')
    const [caCert, contourCert, contourKey, envoyCert, envoyKey] = await Promise.all(
      ['ca/ca.crt', 'contour/tls.crt', 'contour/tls.key', 'envoy/tls.crt', 'envoy/tls.key'].map(read))
    const result = checkCertificateSet({ caCert: caCert!, contourCert: contourCert!, contourKey: contourKey!, envoyCert: envoyCert!, envoyKey: envoyKey! })
    t.equal(result.ok, true, result.ok ? 'a valid set' : `${result.reason}: ${result.detail}`)
    t.equal(await read('contour/ca.crt'), caCert)
    t.equal(await read('envoy/ca.crt'), caCert)
    t.equal((await stat(join(out, 'contour/tls.key'))).uid, NOBODY, 'written as the image user')
  })

  t.test('the webhook, run with the chart\'s command, serves /healthz to the host over TLS and drains on SIGTERM', async (t) => {
    const certs = await tempDirOwnedByNobody('cti-image-dev-')
    const port = await freePort()
    const server = buildah.spawn(runArgs(['webhook', '--dev', `--port=${port}`, '--dev-cert-dir=/dev-cert', '--drain-seconds=0'], [`${certs}:/dev-cert`], chartWebhookCommand))
    let output = ''
    server.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()))
    server.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()))
    const exited = new Promise<number | null>((resolve) => server.once('exit', (code) => resolve(code)))
    t.teardown(() => { if (server.exitCode === null) server.kill('SIGKILL') })

    let healthz = 0
    for (let attempt = 0; attempt < 120 && healthz !== 200 && server.exitCode === null; attempt++) {
      const ca = await readFile(join(certs, 'ca.crt'), 'utf8').catch(() => undefined)
      if (ca) healthz = await httpsRequest({ port, path: '/healthz', agent: false, ca: [ca] }).then((r) => r.statusCode, () => 0)
      if (healthz !== 200) await sleep(250)
    }
    t.equal(healthz, 200, healthz === 200 ? 'GET /healthz' : `GET /healthz (webhook output: ${output.slice(-500)})`)

    const node = await findDescendant(server.pid ?? -1, ENTRYPOINT[0]!)
    t.ok(node, 'node runs under buildah run')
    if (node !== undefined) process.kill(node, 'SIGTERM')
    t.equal(await exited, 0, 'exit code after SIGTERM')
  })
}
