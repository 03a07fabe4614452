// Bundles the CLI with esbuild into dist/. Commands are split into chunks loaded on demand, so
// `bootstrap-tls --role=envoy` loads neither fastify, node-forge nor the Kubernetes client.
import { build } from 'esbuild'
import { readFile, rm, chmod } from 'node:fs/promises'

const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8'))
const started = Date.now()
await rm(new URL('../dist', import.meta.url), { recursive: true, force: true })
const result = await build({
  entryPoints: { cli: 'src/cli.ts' },
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node24',
  minifySyntax: true,
  sourcemap: 'linked',
  metafile: true,
  chunkNames: 'chunks/[name]-[hash]',
  define: { __CTI_VERSION__: JSON.stringify(pkg.version) },
  // Bundled CommonJS dependencies (node-forge, parts of the Kubernetes client) call require().
  banner: { js: "import { createRequire as __ctiCreateRequire } from 'node:module'; const require = __ctiCreateRequire(import.meta.url);" },
  logLevel: 'warning',
})
await chmod('dist/cli.js', 0o755)
const bytes = Object.values(result.metafile.outputs).reduce((sum, o) => sum + o.bytes, 0)
console.error(`build: dist/ ${(bytes / 1024 / 1024).toFixed(2)} MiB in ${Date.now() - started} ms`)
