// What `bootstrap-tls --role=contour` loads, checked in the bundle that ships: the real
// scripts/build.mjs builds dist/ into a temporary directory, and each run records every module
// it resolves (fixtures/record-modules.mjs). Against the fake apiserver, with an in-cluster
// service account or a plain kubeconfig, @kubernetes/client-node is never loaded; node-forge is
// loaded only to issue a new set, never to check an existing one. A kubeconfig with an exec
// user does load client-node, which shows the check sees a lazily loaded chunk.
import { spawn } from 'node:child_process'
import { copyFile, mkdir, mkdtemp, readdir, readFile, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { ExitCodes } from '../../src/bootstrap/exit-codes.ts'
import { startFakeApiServer } from '../helpers/fake-apiserver.ts'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const NODE = join(ROOT, 'node_modules/.bin/node')
const RECORD = join(ROOT, 'test/bootstrap/fixtures/record-modules.mjs')
const RUN_CHUNK = join(ROOT, 'test/bootstrap/fixtures/run-bootstrap-chunk.mjs')

/** How a library shows in what a run loaded: its path in node_modules (source runs) or esbuild's path comments (bundle). */
const LIBRARIES = {
  'client-node': 'node_modules/@kubernetes/client-node/',
  'node-forge': 'node_modules/node-forge/',
} as const
type Library = keyof typeof LIBRARIES

interface Run {
  readonly code: number | null
  readonly stderr: string
  /** Libraries among the loaded modules. */
  readonly loaded: ReadonlySet<Library>
  readonly files: readonly string[]
}

function spawnRecorded(args: readonly string[], env: Record<string, string>, record: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(NODE, ['--import', RECORD, ...args], { env: { PATH: process.env.PATH ?? '', CTI_RECORD_MODULES: record, ...env }, stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
    child.on('error', reject)
    child.on('close', (code) => resolvePromise({ code, stderr }))
  })
}

async function run(args: readonly string[], env: Record<string, string> = {}): Promise<Run> {
  const record = join(await mkdtemp(join(tmpdir(), 'modules-')), 'loaded.tsv')
  await writeFile(record, '')
  const { code, stderr } = await spawnRecorded(args, env, record)
  const urls = [...new Set((await readFile(record, 'utf8')).split('\n').filter(Boolean).map((l) => l.split('\t')[1] ?? ''))]
  const files = urls.filter((u) => u.startsWith('file:')).map((u) => fileURLToPath(u))
  const loaded = new Set<Library>()
  for (const file of files) {
    const content = await readFile(file, 'utf8')
    for (const [lib, marker] of Object.entries(LIBRARIES) as Array<[Library, string]>) {
      if (file.includes(marker) || content.includes(marker)) loaded.add(lib)
    }
  }
  return { code, stderr, loaded, files }
}

// The bundle, built by the real build script in a scratch directory (dist/ itself may be in use).
const build = await mkdtemp(join(tmpdir(), 'cti-dist-'))
await mkdir(join(build, 'scripts'))
await copyFile(join(ROOT, 'scripts/build.mjs'), join(build, 'scripts/build.mjs'))
await copyFile(join(ROOT, 'package.json'), join(build, 'package.json'))
await symlink(join(ROOT, 'src'), join(build, 'src'))
await symlink(join(ROOT, 'node_modules'), join(build, 'node_modules'))
const built = await new Promise<{ code: number | null; stderr: string }>((resolvePromise, reject) => {
  const child = spawn(NODE, ['scripts/build.mjs'], { cwd: build, stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
  child.on('error', reject)
  child.on('close', (code) => resolvePromise({ code, stderr }))
})
if (built.code !== 0) throw new Error(`scripts/build.mjs failed: ${built.stderr}`)
const CLI = join(build, 'dist', 'cli.js')
const chunks = join(build, 'dist', 'chunks')
let mainChunk = ''
for (const f of await readdir(chunks)) {
  if (f.endsWith('.js') && (await readFile(join(chunks, f), 'utf8')).includes('runBootstrapTls')) mainChunk = join(chunks, f)
}

const api = await startFakeApiServer({ serviceAccount: 'projectcontour:contour' })
t.teardown(() => api.close())
const dir = await mkdtemp(join(tmpdir(), 'contour-imports-'))

// A kubeconfig as kubectl writes it (YAML), with a bearer token.
const kubeconfig = join(dir, 'kubeconfig.yaml')
await writeFile(kubeconfig, [
  'apiVersion: v1',
  'kind: Config',
  'clusters:',
  '- name: fake',
  '  cluster:',
  `    server: ${api.url}`,
  `    certificate-authority-data: ${Buffer.from(api.certificate?.caCert ?? '').toString('base64')}`,
  'users:',
  '- name: contour',
  '  user:',
  `    token: ${api.token}`,
  'contexts:',
  '- name: fake',
  '  context: {cluster: fake, user: contour}',
  'current-context: fake',
  '',
].join('\n'))

t.test('the bundle: the contour role chunk imports neither library statically', async (t) => {
  t.ok(mainChunk, 'found the chunk exporting runBootstrapTls')
  const contourChunk = (await readdir(chunks)).find((f) => /^run-contour-.*\.js$/.test(f))
  if (contourChunk === undefined) return t.fail('no run-contour chunk')
  const seen = new Set<string>()
  const visit = async (file: string): Promise<void> => {
    if (seen.has(file)) return
    seen.add(file)
    for (const m of (await readFile(file, 'utf8')).matchAll(/^(?:import|export)\s[^;]*?from\s*"(\.[^"]+)"|^import\s*"(\.[^"]+)"/gm)) {
      await visit(resolve(dirname(file), m[1] ?? m[2] ?? ''))
    }
  }
  await visit(join(chunks, contourChunk))
  t.ok(seen.size > 3, `followed the chunk's static imports (${seen.size} files)`)
  for (const file of seen) {
    const content = await readFile(file, 'utf8')
    for (const [lib, marker] of Object.entries(LIBRARIES)) t.notOk(content.includes(marker), `${file.slice(build.length + 1)} does not contain ${lib}`)
  }
})

t.test('plain kubeconfig: creating the set loads node-forge but not client-node; using it loads neither', async (t) => {
  const args = [CLI, 'bootstrap-tls', '--role=contour', `--kubeconfig=${kubeconfig}`, '--namespace=via-kubeconfig', '--secrets-only', '--wait-timeout=20s']
  const created = await run(args)
  t.equal(created.code, ExitCodes.OK, 'exit code', { stderr: created.stderr })
  t.match(created.stderr, /credentials from the kubeconfig \(service account "projectcontour:contour"\)/)
  t.match(created.stderr, /created a new set/)
  t.notOk(created.loaded.has('client-node'), 'client-node not loaded')
  t.ok(created.loaded.has('node-forge'), 'node-forge loaded to issue the set (the check sees lazily loaded chunks)')

  const used = await run(args)
  t.equal(used.code, ExitCodes.OK, 'exit code', { stderr: used.stderr })
  t.match(used.stderr, /using the existing set/)
  t.same([...used.loaded], [], 'neither client-node nor node-forge loaded to check and use a set')
})

t.test('early issuing: only on a first start (empty CA mount), never on a restart whose mount holds the CA', async (t) => {
  const base = [CLI, 'bootstrap-tls', '--role=contour', `--kubeconfig=${kubeconfig}`, '--namespace=early-issue', '--wait-timeout=1s']
  t.equal((await run([...base.slice(0, -1), '--secrets-only', '--wait-timeout=20s'])).code, ExitCodes.OK, 'Secrets created')
  const restart = await mkdtemp(join(tmpdir(), 'tls-restart-'))
  await mkdir(join(restart, 'ca'))
  await writeFile(join(restart, 'ca', 'ca.crt'), 'mounted by the kubelet')
  const restarted = await run([...base, `--tls-dir=${restart}`])
  t.match(restarted.stderr, /using the existing set/)
  t.notOk(restarted.loaded.has('node-forge'), 'restart: no keys generated ahead of the reads')
  const first = await mkdtemp(join(tmpdir(), 'tls-first-'))
  await mkdir(join(first, 'ca'))
  const firstStart = await run([...base, `--tls-dir=${first}`])
  t.match(firstStart.stderr, /using the existing set/, 'the early set is dropped when the Secrets are valid')
  t.ok(firstStart.loaded.has('node-forge'), 'empty CA mount: issuing started ahead of the reads')
})

t.test('in-cluster service account: client-node not loaded', async (t) => {
  const sa = await mkdtemp(join(tmpdir(), 'serviceaccount-'))
  await writeFile(join(sa, 'token'), api.token)
  await writeFile(join(sa, 'ca.crt'), api.certificate?.caCert ?? '')
  await writeFile(join(sa, 'namespace'), 'in-cluster')
  const env = { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(api.port) }
  const args = [RUN_CHUNK, mainChunk, sa, '--role=contour', '--secrets-only', '--wait-timeout=20s']
  const created = await run(args, env)
  t.equal(created.code, ExitCodes.OK, 'exit code', { stderr: created.stderr })
  t.match(created.stderr, /namespace in-cluster, .*credentials from the service account \(service account "projectcontour:contour"\)/)
  t.ok(created.files.some((f) => f.startsWith(chunks)), 'ran from the bundle')
  t.notOk(created.loaded.has('client-node'), 'client-node not loaded')
  const used = await run(args, env)
  t.equal(used.code, ExitCodes.OK, 'exit code', { stderr: used.stderr })
  t.same([...used.loaded], [], 'neither client-node nor node-forge loaded to check and use a set')
})

t.test('--probe, the sidecar\'s startup probe, loads neither library from the bundle', async (t) => {
  const tls = await mkdtemp(join(tmpdir(), 'tls-probe-'))
  const made = await run([CLI, 'bootstrap-tls', `--out-dir=${tls}`])
  t.equal(made.code, ExitCodes.OK, 'an offline set to probe', { stderr: made.stderr })
  const started = Date.now()
  const probed = await run([CLI, 'bootstrap-tls', '--probe', `--tls-dir=${tls}`, '--colocated'])
  t.equal(probed.code, ExitCodes.OK, 'exit code', { stderr: probed.stderr })
  t.same([...probed.loaded], [], 'neither client-node nor node-forge loaded')
  t.comment(`--probe from the bundle: ${Date.now() - started} ms including node start-up (and the module recorder)`)
  const missing = await run([CLI, 'bootstrap-tls', '--probe', `--tls-dir=${join(tls, 'none')}`])
  t.equal(missing.code, ExitCodes.NOT_READY, 'nothing mounted: NOT_READY')
  t.same([...missing.loaded], [], 'neither library loaded on failure either')
})

t.test('a kubeconfig with an exec user: client-node is loaded for it, and works', async (t) => {
  const credential = JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1beta1', kind: 'ExecCredential', status: { token: api.token } })
  const exec = join(dir, 'exec.yaml')
  await writeFile(exec, (await readFile(kubeconfig, 'utf8')).replace(
    `    token: ${api.token}`,
    ['    exec:', '      apiVersion: client.authentication.k8s.io/v1beta1', '      command: /bin/sh', '      args:', '      - -c', `      - ${JSON.stringify(`printf '%s' '${credential}'`)}`].join('\n'),
  ))
  const r = await run([CLI, 'bootstrap-tls', '--role=contour', `--kubeconfig=${exec}`, '--namespace=via-kubeconfig', '--secrets-only', '--wait-timeout=20s'])
  t.equal(r.code, ExitCodes.OK, 'exit code', { stderr: r.stderr })
  t.match(r.stderr, /read by @kubernetes\/client-node: the user "contour" uses exec/)
  t.match(r.stderr, /using the existing set/)
  t.ok(r.loaded.has('client-node'), 'client-node loaded')
  t.notOk(r.loaded.has('node-forge'), 'node-forge not loaded')
})
