// `bootstrap-tls --role=envoy` end to end in a subprocess of the real CLI: valid files exit 0,
// bad files time out with WAIT_TIMEOUT; and the role never loads @kubernetes/client-node or
// node-forge, checked at run time (a resolve hook that forbids them) and in the static import graph.
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { ExitCodes } from '../../src/bootstrap/exit-codes.ts'
import { expiredSet, freshSet } from './cert-fixtures.ts'
import { projectAtomically } from './fake-kubelet.ts'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const NODE = join(ROOT, 'node_modules/.bin/node')
const CLI = join(ROOT, 'src/cli.ts')
const FORBID = join(ROOT, 'test/bootstrap/fixtures/forbid-heavy-modules.mjs')

function runCli(args: string[], preload = true): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const started = Date.now()
  return new Promise((resolvePromise, reject) => {
    // A clean environment: no KUBECONFIG, no service account, nothing to fall back on.
    const child = spawn(NODE, [...(preload ? ['--import', FORBID] : []), CLI, 'bootstrap-tls', ...args], { env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
    child.on('error', reject)
    child.on('close', (code) => resolvePromise({ code, stdout, stderr, ms: Date.now() - started }))
  })
}

async function tlsDir(envoy: Record<string, string>, ca: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'envoy-role-'))
  await projectAtomically(join(dir, 'envoy'), envoy)
  await projectAtomically(join(dir, 'ca'), ca)
  return dir
}

t.test('valid files: exit 0, without loading the Kubernetes client or node-forge', async (t) => {
  const set = await freshSet('envoy-role')
  const dir = await tlsDir({ 'tls.crt': set.envoyCert, 'tls.key': set.envoyKey, 'ca.crt': set.caCert }, { 'ca.crt': set.caCert })
  const r = await runCli(['--role=envoy', `--tls-dir=${dir}`])
  t.equal(r.code, ExitCodes.OK, 'exit code', { stderr: r.stderr })
  t.match(r.stderr, /bootstrap-tls: the Envoy certificate files: ready after/)
  t.notMatch(r.stderr, /forbidden import/)
  t.notMatch(r.stderr, /PRIVATE KEY/)
  t.comment(`envoy role, valid files: ${r.ms} ms wall time including node start-up`)
})

t.test('bad files and a 1s timeout: WAIT_TIMEOUT, with progress and a clear message', async (t) => {
  const [set, expired] = await Promise.all([freshSet('envoy-role'), expiredSet('envoy-role')])
  const dir = await tlsDir({ 'tls.crt': expired.envoyCert, 'tls.key': expired.envoyKey }, { 'ca.crt': set.caCert })
  const r = await runCli(['--role=envoy', `--tls-dir=${dir}`, '--wait-timeout=1s'])
  t.equal(r.code, ExitCodes.WAIT_TIMEOUT, 'exit code', { stderr: r.stderr })
  t.match(r.stderr, /bootstrap-tls: waiting for the Envoy certificate files: .*not a valid Envoy pair yet/)
  t.match(r.stderr, /bootstrap-tls: error ERR_WAIT_TIMEOUT: timed out after 1\.0s/)
  t.notMatch(r.stderr, /forbidden import/)
})

t.test('the resolve hook really forbids: the contour role trips it', async (t) => {
  // The contour role loads client-node only for kubeconfig shapes it does not read itself, such
  // as an exec user (see contour-role-imports.test.ts): this one makes it load it.
  const kubeconfig = join(await mkdtemp(join(tmpdir(), 'envoy-role-')), 'kubeconfig')
  await writeFile(kubeconfig, JSON.stringify({
    clusters: [{ name: 'c', cluster: { server: 'https://127.0.0.1:1' } }],
    users: [{ name: 'u', user: { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'true' } } }],
    contexts: [{ name: 'c', context: { cluster: 'c', user: 'u' } }],
    'current-context': 'c',
  }))
  const r = await runCli(['--role=contour', '--namespace=x', '--wait-timeout=1s', `--kubeconfig=${kubeconfig}`])
  t.not(r.code, ExitCodes.OK)
  t.match(r.stderr, /forbidden import on the envoy path: (@kubernetes\/client-node|node-forge)/)
})

t.test('static import graph of the envoy path reaches neither client-node nor node-forge', async (t) => {
  // Static imports only: `import type` is erased, dynamic import() is what keeps the rest lazy.
  const seen = new Set<string>()
  const external = new Set<string>()
  const visit = async (file: string): Promise<void> => {
    if (seen.has(file)) return
    seen.add(file)
    const source = await readFile(file, 'utf8')
    for (const m of source.matchAll(/^import\s+(?!type\s)[^'"]*?from\s+'([^']+)'|^import\s+'([^']+)'/gm)) {
      const spec = m[1] ?? m[2] ?? ''
      if (spec.startsWith('.')) await visit(resolve(dirname(file), spec))
      else external.add(spec)
    }
  }
  for (const entry of ['src/cli.ts', 'src/bootstrap/main.ts']) await visit(join(ROOT, entry))
  const heavy = [...external].filter((s) => /^(@kubernetes\/client-node|node-forge|fastify|pino)/.test(s))
  t.same(heavy, [], `modules statically loaded: ${[...seen].map((f) => f.slice(ROOT.length + 1)).join(', ')}`)
  t.ok([...external].every((s) => s.startsWith('node:')), `only node: builtins (${[...external].join(', ')})`)
  t.ok(seen.has(join(ROOT, 'src/core/certs/check-set.ts')), 'the check module is on the path')
  t.notOk(seen.has(join(ROOT, 'src/bootstrap/run-contour.ts')), 'the contour role is not')
})

