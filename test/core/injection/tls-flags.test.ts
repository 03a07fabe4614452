import t from 'tap'
import { escapePointerToken, toPointer } from '../../../src/core/injection/json-pointer.ts'
import { buildTlsFlags, findTlsFlags, isInsecureFlag, rewriteArgv } from '../../../src/core/injection/tls-flags.ts'

const noEnv: ReadonlySet<string> = new Set()

t.test('findTlsFlags reads both kingpin forms and the environment', async (t) => {
  t.same(findTlsFlags('serve', ['contour', 'serve'], noEnv), {
    present: [],
    missing: ['--contour-cafile', '--contour-cert-file', '--contour-key-file'],
  })
  const separate = ['contour', 'serve', '--contour-cafile', '/c', '--contour-cert-file', '/t', '--contour-key-file', '/k']
  t.same(findTlsFlags('serve', separate, noEnv).missing, [])
  const joined = ['contour', 'bootstrap', 'x', '--envoy-cafile=/c', '--envoy-cert-file=/t']
  t.same(findTlsFlags('bootstrap', joined, noEnv).missing, ['--envoy-key-file'])
  t.same(findTlsFlags('bootstrap', joined, new Set(['ENVOY_KEY_FILE'])).present, ['--envoy-cafile', '--envoy-cert-file', 'env ENVOY_KEY_FILE'])
  // serve's variables do not configure bootstrap, and a prefix is not the flag.
  t.same(findTlsFlags('bootstrap', ['contour', 'bootstrap', '--envoy-cafile-x=1'], new Set(['CONTOUR_CAFILE'])).present, [])
})

t.test('findTlsFlags ignores positional arguments after --', async (t) => {
  const argv = ['contour', 'serve', '--', '--contour-cafile=/c']
  t.same(findTlsFlags('serve', argv, noEnv).present, [])
})

t.test('buildTlsFlags points at the injected files', async (t) => {
  t.same(buildTlsFlags('serve', { ca: '/etc/tls/ca/ca.crt', cert: '/etc/tls/contour/tls.crt', key: '/etc/tls/contour/tls.key' }), [
    '--contour-cafile=/etc/tls/ca/ca.crt',
    '--contour-cert-file=/etc/tls/contour/tls.crt',
    '--contour-key-file=/etc/tls/contour/tls.key',
  ])
  t.same(buildTlsFlags('bootstrap', { ca: '/r/ca/ca.crt', cert: '/r/envoy/tls.crt', key: '/r/envoy/tls.key' }), [
    '--envoy-cafile=/r/ca/ca.crt',
    '--envoy-cert-file=/r/envoy/tls.crt',
    '--envoy-key-file=/r/envoy/tls.key',
  ])
})

t.test('isInsecureFlag', async (t) => {
  t.ok(isInsecureFlag('--insecure'))
  t.ok(isInsecureFlag('--insecure=false'))
  t.notOk(isInsecureFlag('--insecure-skip-verify'))
  t.notOk(isInsecureFlag('--no-insecure'))
})

t.test('rewriteArgv keeps command and args apart', async (t) => {
  t.same(rewriteArgv(['contour'], ['serve', '--insecure', '--incluster'], ['--a'], true), {
    command: ['contour'],
    args: ['serve', '--incluster', '--a'],
    commandChanged: false,
    argsChanged: true,
  })
  t.same(rewriteArgv(['contour', 'serve', '--insecure=true'], undefined, ['--a'], true), {
    command: ['contour', 'serve'],
    args: ['--a'],
    commandChanged: true,
    argsChanged: true,
  })
  t.same(rewriteArgv(undefined, ['contour', 'serve', '--insecure'], ['--a'], true), {
    command: undefined,
    args: ['contour', 'serve', '--a'],
    commandChanged: false,
    argsChanged: true,
  })
  // bootstrap has no --insecure: nothing is dropped when not asked.
  t.same(rewriteArgv(['contour'], ['bootstrap', '--insecure'], ['--a'], false).args, ['bootstrap', '--insecure', '--a'])
})

t.test('rewriteArgv puts flags before -- so they stay flags', async (t) => {
  const inArgs = rewriteArgv(['contour'], ['bootstrap', '--', '/config/envoy.json', '--insecure'], ['--a'], true)
  t.same(inArgs.args, ['bootstrap', '--a', '--', '/config/envoy.json', '--insecure'])
  const inCommand = rewriteArgv(['contour', 'bootstrap', '--'], ['/config/envoy.json'], ['--a'], false)
  t.same(inCommand, { command: ['contour', 'bootstrap', '--a', '--'], args: ['/config/envoy.json'], commandChanged: true, argsChanged: false })
})

t.test('rewriteArgv never drops the executable', async (t) => {
  t.same(rewriteArgv(['--insecure'], [], [], true).command, ['--insecure'])
})

t.test('JSON pointer tokens are escaped, ~ before /', async (t) => {
  t.equal(escapePointerToken('contour-tls-injection/status'), 'contour-tls-injection~1status')
  t.equal(escapePointerToken('a~1/b'), 'a~01~1b')
  t.equal(toPointer(['metadata', 'annotations', 'x/y']), '/metadata/annotations/x~1y')
  t.equal(toPointer(['spec', 'containers', 0, 'volumeMounts', '-']), '/spec/containers/0/volumeMounts/-')
})
