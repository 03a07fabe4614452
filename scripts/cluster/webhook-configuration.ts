// THE MutatingWebhookConfiguration of contour-tls-injector. The local cluster and the e2e suite
// register exactly this object; the Helm chart's template must produce the same fields (only
// the client config differs: a Service there, a loopback URL here). Change them together.
import { Annotations, NAMESPACE_LABEL } from '../../src/core/injection/types.ts'

export const WEBHOOK_NAME = 'inject.contour-tls-injection.projectcontour.io'
export const INJECTOR_APP_NAME = 'contour-tls-injector'

/**
 * Keeps every pod that cannot be a Contour or Envoy pod away from the webhook (CEL, GA in
 * Kubernetes 1.30). Deliberately wider than the engine's own classification, which still
 * decides: it lets through every argv element that mentions the word `contour` or `envoy` as
 * a whole word (`contour`, `/bin/contour`, `envoy`, `sh -c "exec contour serve"`), so the
 * engine sees every real shape, including shell-wrapped ones it must warn about.
 * Word characters include `.`, `-` and `_`: `/config/envoy.json` and `heptio-contour` do not
 * match, `--xds-address=contour` does (harmless: only Envoy pods carry it).
 */
export const CONTOUR_OR_ENVOY_CEL = [
  '(object.spec.containers + (has(object.spec.initContainers) ? object.spec.initContainers : []))',
  '.exists(c, ((has(c.command) ? c.command : []) + (has(c.args) ? c.args : []))',
  ".exists(a, a.matches('(^|[^A-Za-z0-9_.-])(contour|envoy)([^A-Za-z0-9_.-]|$)')))",
].join('')

const optOut = `object.metadata.annotations['${Annotations.inject}']`
export const OPT_OUT_CEL = `!has(object.metadata.annotations) || !('${Annotations.inject}' in object.metadata.annotations) || ${optOut}.trim().lowerAscii() != 'false'`

export interface WebhookClient {
  /** Either a URL (the local cluster) ... */
  readonly url?: string
  /** ... or the webhook's Service (the chart). */
  readonly service?: { readonly name: string; readonly namespace: string; readonly port?: number }
  /** PEM of the CA that signed the webhook's serving certificate. */
  readonly caBundlePem: string
}

export interface WebhookConfigurationOptions {
  readonly name?: string
  readonly client: WebhookClient
  readonly failurePolicy?: 'Fail' | 'Ignore'
  readonly timeoutSeconds?: number
}

export function buildWebhookConfiguration(opts: WebhookConfigurationOptions): Record<string, unknown> {
  const { client } = opts
  if ((client.url === undefined) === (client.service === undefined)) throw new Error('buildWebhookConfiguration: give exactly one of client.url and client.service')
  const clientConfig: Record<string, unknown> = { caBundle: Buffer.from(client.caBundlePem).toString('base64') }
  if (client.url !== undefined) clientConfig.url = client.url
  if (client.service !== undefined) clientConfig.service = { ...client.service, path: '/mutate', port: client.service.port ?? 443 }
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: opts.name ?? INJECTOR_APP_NAME, labels: { 'app.kubernetes.io/name': INJECTOR_APP_NAME } },
    webhooks: [
      {
        name: WEBHOOK_NAME,
        clientConfig,
        rules: [{ apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], operations: ['CREATE'], scope: 'Namespaced' }],
        namespaceSelector: { matchLabels: { [NAMESPACE_LABEL.key]: NAMESPACE_LABEL.value } },
        // The injector's own pods never wait for themselves (and `bootstrap-tls` in its argv
        // would otherwise match the condition below).
        objectSelector: { matchExpressions: [{ key: 'app.kubernetes.io/name', operator: 'NotIn', values: [INJECTOR_APP_NAME] }] },
        matchConditions: [
          // The engine's own opt-out test (trimmed, case-insensitive "false"), checked first
          // so opted-out pods cost no webhook call.
          { name: 'not-opted-out', expression: OPT_OUT_CEL },
          { name: 'runs-contour-or-envoy', expression: CONTOUR_OR_ENVOY_CEL },
        ],
        admissionReviewVersions: ['v1'],
        sideEffects: 'None',
        timeoutSeconds: opts.timeoutSeconds ?? 5,
        reinvocationPolicy: 'IfNeeded',
        failurePolicy: opts.failurePolicy ?? 'Fail',
        matchPolicy: 'Equivalent',
      },
    ],
  }
}
