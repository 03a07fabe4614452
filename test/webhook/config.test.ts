import t from 'tap'
import { parseWebhookConfig } from '../../src/webhook/config.ts'

const files = ['--tls-cert-file=/c.crt', '--tls-key-file=/c.key']

t.test('defaults', async (t) => {
  const c = parseWebhookConfig(files, {})
  t.equal(c.host, '0.0.0.0')
  t.equal(c.port, 8443)
  t.same(c.injection.secretNames, { contour: 'contour-tls', envoy: 'envoy-tls', ca: 'contour-ca' })
  t.equal(c.injection.mountRoot, '/etc/tls')
  t.equal(c.injection.existingTls, 'certgen', 'certgen\'s TLS is taken over by default')
  t.equal(c.injection.bootstrapMode, 'init', 'bootstrap-tls is a plain init container unless told otherwise')
  t.ok(Object.isFrozen(c))
})

t.test('--bootstrap-mode: flag or env, and nothing else', async (t) => {
  t.equal(parseWebhookConfig([...files, '--bootstrap-mode=sidecar'], {}).injection.bootstrapMode, 'sidecar')
  t.equal(parseWebhookConfig([...files, '--bootstrap-mode', 'init'], { CONTOUR_TLS_INJECTOR_BOOTSTRAP_MODE: 'sidecar' }).injection.bootstrapMode, 'init', 'the flag wins over the env')
  t.equal(parseWebhookConfig(files, { CONTOUR_TLS_INJECTOR_BOOTSTRAP_MODE: 'sidecar' }).injection.bootstrapMode, 'sidecar')
  t.throws(() => parseWebhookConfig([...files, '--bootstrap-mode=auto'], {}), { code: 'ERR_CONFIG', message: /--bootstrap-mode/ })
  t.throws(() => parseWebhookConfig(files, { CONTOUR_TLS_INJECTOR_BOOTSTRAP_MODE: 'Sidecar' }), { code: 'ERR_CONFIG', message: /--bootstrap-mode/ })
})

t.test('--existing-tls: flag or env, and nothing else', async (t) => {
  t.equal(parseWebhookConfig([...files, '--existing-tls=all'], {}).injection.existingTls, 'all')
  t.equal(parseWebhookConfig([...files, '--existing-tls', 'keep'], {}).injection.existingTls, 'keep')
  t.equal(parseWebhookConfig(files, { CONTOUR_TLS_INJECTOR_EXISTING_TLS: 'keep' }).injection.existingTls, 'keep')
  t.throws(() => parseWebhookConfig([...files, '--existing-tls=some'], {}), { code: 'ERR_CONFIG', message: /--existing-tls/ })
  t.throws(() => parseWebhookConfig(files, { CONTOUR_TLS_INJECTOR_EXISTING_TLS: 'Certgen' }), { code: 'ERR_CONFIG', message: /--existing-tls/ })
})

t.test('flags and environment, both forms', async (t) => {
  const c = parseWebhookConfig(['--port', '9443', '--mount-root=/var/tls/', '--contour-secret', 'a'], { CONTOUR_TLS_INJECTOR_TLS_CERT_FILE: '/x', CONTOUR_TLS_INJECTOR_TLS_KEY_FILE: '/y', CONTOUR_TLS_INJECTOR_IMAGE: 'r/i:1' })
  t.equal(c.port, 9443)
  t.equal(c.injection.mountRoot, '/var/tls')
  t.equal(c.injection.secretNames.contour, 'a')
  t.equal(c.injection.image, 'r/i:1')
  t.same(c.tls, { mode: 'files', certFile: '/x', keyFile: '/y' })
  const dev = parseWebhookConfig(['--dev'], {})
  t.equal(dev.host, '127.0.0.1')
})

t.test('invalid settings name the flag', async (t) => {
  const bad: [string[], RegExp][] = [
    [[], /--tls-cert-file/],
    [[...files, '--port=70000'], /--port/],
    [[...files, '--port=abc'], /--port/],
    [[...files, '--contour-secret=Bad_Name'], /--contour-secret/],
    [[...files, '--envoy-secret=contour-tls'], /must differ/],
    [[...files, '--mount-root=relative'], /--mount-root/],
    [[...files, '--image-pull-policy=Sometimes'], /--image-pull-policy/],
    [[...files, '--log-level=loud'], /--log-level/],
    [[...files, '--bogus'], /bogus/],
    [['--dev', ...files], /--dev/],
  ]
  for (const [args, message] of bad) {
    t.throws(() => parseWebhookConfig(args, {}), { message }, args.join(' '))
  }
  t.throws(() => parseWebhookConfig([...files, '--port=1x'], {}), { code: 'ERR_CONFIG' })
  t.throws(() => parseWebhookConfig([...files, '--nope'], {}), { code: 'ERR_USAGE' })
  t.throws(() => parseWebhookConfig(files, { CONTOUR_TLS_INJECTOR_DEV: 'maybe' }), { code: 'ERR_CONFIG' })
})
