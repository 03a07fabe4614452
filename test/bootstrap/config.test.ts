// Flags, environment, durations, --help, usage errors and the exit-code table.
import { readFile } from 'node:fs/promises'
import t from 'tap'
import { parseBootstrapConfig } from '../../src/bootstrap/config.ts'
import { formatDuration, parseDuration } from '../../src/bootstrap/duration.ts'
import { BootstrapErrorCodes, exitCodeFor, ExitCodes } from '../../src/bootstrap/exit-codes.ts'
import { createLog } from '../../src/bootstrap/log.ts'
import { runBootstrapTls } from '../../src/bootstrap/main.ts'
import { recordingIO } from './fake-io.ts'

t.test('durations: 300, 300s, 5m, 1500ms', async (t) => {
  t.equal(parseDuration('wait-timeout', '300'), 300_000)
  t.equal(parseDuration('wait-timeout', '300s'), 300_000)
  t.equal(parseDuration('wait-timeout', '5m'), 300_000)
  t.equal(parseDuration('wait-timeout', '1500ms'), 1500)
  t.equal(parseDuration('wait-timeout', '0.5s'), 500)
  for (const bad of ['', 'soon', '-1s', '5 minutes', '0']) t.throws(() => parseDuration('wait-timeout', bad), { code: 'ERR_CONFIG' }, bad)
  t.equal(formatDuration(300_000), '5m00s')
  t.equal(formatDuration(1000), '1.0s')
})

t.test('contour role: defaults, flags and environment', async (t) => {
  const config = parseBootstrapConfig(['--role=contour'], { POD_NAMESPACE: 'projectcontour', CONTOUR_TLS_ROTATE: ' r1 ' })
  t.match(config, {
    mode: 'contour',
    tlsDir: '/etc/tls',
    waitTimeoutMs: 300_000,
    colocated: false,
    secretsOnly: false,
    namespace: 'projectcontour',
    secretNames: { contour: 'contour-tls', envoy: 'envoy-tls', ca: 'contour-ca' },
    rotateToken: 'r1',
    issue: { serviceName: 'contour', extraSans: [], lifetimeDays: 365, keyBits: 2048 },
  })
  t.ok(Object.isFrozen(config))
  const custom = parseBootstrapConfig(
    ['--role', 'contour', '--namespace=x', '--tls-dir=/t', '--wait-timeout=5m', '--colocated', '--contour-secret=a', '--envoy-secret=b', '--ca-secret=c', '--rotate-token=', '--extra-sans=a.example, 10.0.0.1'],
    { POD_NAMESPACE: 'ignored', CONTOUR_TLS_ROTATE: 'from-env' },
  )
  t.match(custom, { namespace: 'x', tlsDir: '/t', waitTimeoutMs: 300_000, colocated: true, secretNames: { contour: 'a', envoy: 'b', ca: 'c' }, rotateToken: '', issue: { extraSans: ['a.example', '10.0.0.1'] } })
})

t.test('--sidecar and --poll-interval; --probe', async (t) => {
  t.match(parseBootstrapConfig(['--role=contour'], {}), { mode: 'contour', sidecar: false, pollIntervalMs: 600_000 }, 'not a sidecar by default; 10m between checks')
  t.match(parseBootstrapConfig(['--role=contour', '--sidecar', '--poll-interval=90s'], {}), { mode: 'contour', sidecar: true, pollIntervalMs: 90_000 })
  const probe = parseBootstrapConfig(['--probe', '--tls-dir=/t', '--colocated'], {})
  t.same(probe, { mode: 'probe', tlsDir: '/t', colocated: true })
  t.ok(Object.isFrozen(probe))
  t.same(parseBootstrapConfig(['--probe'], {}), { mode: 'probe', tlsDir: '/etc/tls', colocated: false })
})

t.test('usage and configuration errors have stable codes', async (t) => {
  const cases: Array<[string[], string]> = [
    [[], 'ERR_USAGE'],
    [['--role=envoy', '--secrets-only'], 'ERR_USAGE'],
    [['--role=ingress'], 'ERR_USAGE'],
    [['--role=envoy', '--out-dir=/x'], 'ERR_USAGE'],
    [['--role=envoy', '--force'], 'ERR_USAGE'],
    [['--role=envoy', '--bogus'], 'ERR_USAGE'],
    [['--role=envoy', 'extra'], 'ERR_USAGE'],
    [['--role=envoy', '--wait-timeout=forever'], 'ERR_CONFIG'],
    [['--role=contour', '--ca-secret=contour-tls'], 'ERR_CONFIG'],
    [['--role=contour', '--contour-secret=Bad_Name'], 'ERR_CONFIG'],
    [['--role=contour', '--lifetime-days=0'], 'ERR_CONFIG'],
    [['--role=envoy', '--sidecar'], 'ERR_USAGE'],
    [['--sidecar'], 'ERR_USAGE'],
    [['--role=contour', '--sidecar', '--secrets-only'], 'ERR_USAGE'],
    [['--role=contour', '--sidecar', '--poll-interval=often'], 'ERR_CONFIG'],
    [['--probe', '--role=contour'], 'ERR_USAGE'],
    [['--probe', '--out-dir=/x'], 'ERR_USAGE'],
  ]
  for (const [args, code] of cases) t.throws(() => parseBootstrapConfig(args, {}), { code }, args.join(' ') || '(none)')
})

t.test('exit codes: every error code maps to its named exit code', async (t) => {
  t.equal(exitCodeFor('ERR_USAGE'), ExitCodes.USAGE)
  t.equal(exitCodeFor('ERR_WAIT_TIMEOUT'), ExitCodes.WAIT_TIMEOUT)
  t.equal(exitCodeFor('ERR_FORBIDDEN'), ExitCodes.FORBIDDEN)
  t.equal(exitCodeFor('ERR_UNAUTHORIZED'), ExitCodes.FORBIDDEN)
  t.equal(exitCodeFor('ERR_FOREIGN_SECRET'), ExitCodes.FOREIGN_SECRET)
  t.equal(exitCodeFor('ERR_API_UNAVAILABLE'), ExitCodes.API_UNAVAILABLE)
  t.equal(exitCodeFor('ERR_CONFIG'), ExitCodes.CONFIG)
  t.equal(exitCodeFor('ERR_OUT_DIR_EXISTS'), ExitCodes.OUT_DIR_EXISTS)
  t.equal(exitCodeFor('ERR_NOT_READY'), ExitCodes.NOT_READY)
  t.equal(exitCodeFor('ERR_API'), ExitCodes.FAILURE)
  t.equal(exitCodeFor('ERR_SOMETHING_ELSE'), ExitCodes.FAILURE)
  t.equal(new Set(Object.values(ExitCodes)).size, Object.keys(ExitCodes).length, 'exit codes are distinct')
})

t.test('README-exit-codes.md lists every exit code and error code', async (t) => {
  const doc = await readFile(new URL('../../src/bootstrap/README-exit-codes.md', import.meta.url), 'utf8')
  for (const [name, value] of Object.entries(ExitCodes)) t.match(doc, new RegExp(`\\| ${value} \\| \`${name}\` \\|`), name)
  for (const code of Object.values(BootstrapErrorCodes)) t.match(doc, code)
})

t.test('--help prints the flags and exits 0; usage errors exit 2 with a hint', async (t) => {
  const io = recordingIO()
  t.equal(await runBootstrapTls(['--help'], io), ExitCodes.OK)
  for (const flag of ['--role', '--out-dir', '--force', '--tls-dir', '--colocated', '--namespace', '--kubeconfig', '--contour-secret', '--envoy-secret', '--ca-secret', '--rotate-token', '--wait-timeout', '--probe', '--sidecar', '--poll-interval']) {
    t.match(io.out(), flag)
  }
  t.match(io.out(), /env CONTOUR_TLS_ROTATE/)
  const bad = recordingIO()
  t.equal(await runBootstrapTls(['--role=nope'], bad), ExitCodes.USAGE)
  t.match(bad.err(), /^bootstrap-tls: error ERR_USAGE: --role must be contour or envoy/)
  t.match(bad.err(), /--help/)
})

t.test('contour role without credentials or namespace: ERR_CONFIG before any API call', async (t) => {
  const io = recordingIO({})
  t.equal(await runBootstrapTls(['--role=contour'], io, { serviceAccountDir: '/nonexistent' }), ExitCodes.CONFIG)
  t.match(io.err(), /ERR_CONFIG: no Kubernetes credentials/)
})

t.test('log lines: prefixed, one per event, and PEM never gets through', async (t) => {
  const out: string[] = []
  const log = createLog({ write: (c: string) => out.push(c) })
  log('two\nlines')
  log('oops -----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY----- after')
  log(`data: {"tls.key":"${Buffer.from('k'.repeat(300)).toString('base64')}"}`)
  t.same(out, ['bootstrap-tls: two lines\n', 'bootstrap-tls: oops [PEM redacted] after\n', 'bootstrap-tls: data: {"tls.key":"[base64 redacted]"}\n'])
})

t.test('SIGTERM while waiting: exit INTERRUPTED promptly', async (t) => {
  const stop = new AbortController()
  const io = recordingIO({}, stop.signal)
  const started = Date.now()
  setTimeout(() => stop.abort('SIGTERM'), 100)
  const code = await runBootstrapTls(['--role=envoy', '--tls-dir=/nonexistent', '--wait-timeout=30s'], io, { pollMs: 1000 })
  t.equal(code, ExitCodes.INTERRUPTED)
  t.ok(Date.now() - started < 1000, 'did not sit out the poll interval')
  t.match(io.err(), /error ERR_INTERRUPTED/)
})
