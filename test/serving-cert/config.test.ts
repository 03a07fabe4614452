// The self mode's flags: defaults, environment, and errors that name the flag.
import t from 'tap'
import { parseWebhookConfig, webhookHelp } from '../../src/webhook/config.ts'

t.test('files stays the default, so --tls-cert-file keeps working', async (t) => {
  t.match(parseWebhookConfig(['--tls-cert-file=/c', '--tls-key-file=/k'], {}).tls, { mode: 'files', certFile: '/c' })
  t.throws(() => parseWebhookConfig([], {}), { message: /--tls-cert-file/ })
})

t.test('self mode: defaults, flags and environment', async (t) => {
  const c = parseWebhookConfig(['--serving-cert-mode=self'], { POD_NAMESPACE: 'cti-system' })
  t.same(c.tls, {
    mode: 'self',
    secretName: 'contour-tls-injector-serving-cert',
    serviceName: 'contour-tls-injector',
    namespace: 'cti-system',
    webhookConfigurationName: 'contour-tls-injector',
    extraSans: [],
    lifetimeDays: 365,
    kubeconfig: undefined,
  })
  t.ok(Object.isFrozen(c.tls))
  const custom = parseWebhookConfig(
    ['--serving-cert-secret', 's', '--service-name=svc', '--service-namespace=ns', '--webhook-configuration-name=cti.example.com', '--serving-cert-extra-sans=127.0.0.1, webhook.local', '--serving-cert-lifetime-days=30', '--kubeconfig=/k'],
    { CONTOUR_TLS_INJECTOR_SERVING_CERT_MODE: 'self', POD_NAMESPACE: 'ignored' },
  )
  t.match(custom.tls, { mode: 'self', secretName: 's', serviceName: 'svc', namespace: 'ns', webhookConfigurationName: 'cti.example.com', extraSans: ['127.0.0.1', 'webhook.local'], lifetimeDays: 30, kubeconfig: '/k' })
  t.match(parseWebhookConfig(['--serving-cert-mode=self'], {}).tls, { namespace: undefined }, 'no namespace: the service account\'s, found at start')
})

t.test('self mode: bad settings name the flag', async (t) => {
  const self = '--serving-cert-mode=self'
  const bad: Array<[string[], RegExp]> = [
    [['--serving-cert-mode=vault'], /--serving-cert-mode/],
    [[self, '--tls-cert-file=/c', '--tls-key-file=/k'], /--serving-cert-mode/],
    [[self, '--dev'], /--dev/],
    [[self, '--service-name=Bad_Svc'], /--service-name/],
    [[self, '--service-namespace=a.b'], /--service-namespace/],
    [[self, '--serving-cert-secret=UPPER'], /--serving-cert-secret/],
    [[self, '--webhook-configuration-name=-x'], /--webhook-configuration-name/],
    [[self, '--serving-cert-extra-sans=not a name'], /--serving-cert-extra-sans/],
    [[self, '--serving-cert-lifetime-days=0'], /--serving-cert-lifetime-days/],
    [[self, '--serving-cert-lifetime-days=soon'], /--serving-cert-lifetime-days/],
  ]
  for (const [args, message] of bad) t.throws(() => parseWebhookConfig(args, {}), { code: 'ERR_CONFIG', message }, args.join(' '))
})

t.test('--help documents every self-mode flag', async (t) => {
  for (const flag of ['--serving-cert-mode', '--serving-cert-secret', '--service-name', '--service-namespace', '--webhook-configuration-name', '--serving-cert-extra-sans', '--serving-cert-lifetime-days', '--kubeconfig']) {
    t.match(webhookHelp, flag)
  }
  t.match(webhookHelp, /env POD_NAMESPACE/)
})
