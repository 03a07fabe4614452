// What `helm lint` and `helm template` say about the chart, with no cluster: lint, determinism,
// the schema, the RBAC, the webhook configuration against the e2e helper, security contexts.
import { buildSecretWrite, toTrustState } from '../../src/bootstrap/secret-model.ts'
import { renderLifecycleMetrics } from '../../src/bootstrap/lifecycle-metrics.ts'
import { fingerprintSet } from '../../src/core/certs/fingerprint.ts'
import { freshSet } from '../bootstrap/cert-fixtures.ts'
import type { Test } from 'tap'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { buildWebhookConfiguration } from '../../scripts/cluster/webhook-configuration.ts'
import { buildSecretsRole, RBAC_NAME } from '../e2e/rbac.ts'
import { servingSecretRules, webhookConfigurationRules } from '../serving-cert/rbac.ts'
import { parseBootstrapConfig } from '../../src/bootstrap/config.ts'
import { parseWebhookConfig } from '../../src/webhook/config.ts'
import { CHART_DIR, findOne, helm, parseManifests, template, valueArgs, type Manifest } from './helm.ts'

type PodSpec = { securityContext?: Record<string, unknown>; containers: Array<Record<string, unknown> & { name: string; args?: string[]; securityContext?: Record<string, unknown> }>; [k: string]: unknown }
const podSpecOf = (o: Manifest): PodSpec => (o.spec as { template: { spec: PodSpec } }).template.spec
import { WEBHOOK_NODE_FLAGS } from '../../scripts/bench/node-flags.ts'

const argValue = (args: readonly string[], flag: string) => args.find((a) => a.startsWith(`${flag}=`))?.slice(flag.length + 1)
const twoTargets = [{ namespace: 'projectcontour', contourServiceAccount: 'contour' }, { namespace: 'heptio-contour', contourServiceAccount: 'contour' }]

export async function testLint(t: Test): Promise<void> {
  for (const values of [{}, { 'servingCert.mode': 'certManager', 'secrets.precreate': true }, { 'servingCert.mode': 'secret', 'servingCert.secret.name': 'mine', 'servingCert.secret.caBundle': 'Zm9v' }]) {
    const res = await helm(['lint', '--strict', CHART_DIR, ...valueArgs(values)])
    t.equal(res.code, 0, `helm lint --strict ${JSON.stringify(values)}`)
    t.notMatch(res.stdout, /\[(WARNING|ERROR)\]/, 'no warnings or errors')
  }
}

export async function testDeterministic(t: Test): Promise<void> {
  const sets = [{}, { 'servingCert.mode': 'certManager', 'secrets.precreate': true, targets: twoTargets }, { 'servingCert.mode': 'secret', 'servingCert.secret.name': 'mine', 'servingCert.secret.caBundle': '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n' }]
  for (const values of sets) {
    const [a, b] = [await template(values), await template(values)]
    t.ok(a.text.length > 1000 && a.text === b.text, `helm template twice gives identical output (${JSON.stringify(values)})`)
  }
  const files = (await readdir(join(CHART_DIR, 'templates'))).map((f) => join(CHART_DIR, 'templates', f))
  const actions = (await Promise.all(files.map((f) => readFile(f, 'utf8')))).join('\n').match(/\{\{[\s\S]*?\}\}/g) ?? []
  t.ok(actions.length > 100, `${actions.length} template actions read`)
  t.notMatch(actions.filter((a) => !a.startsWith('{{/*') && !a.startsWith('{{- /*')).join('\n'), /\b(genCA|genSelfSignedCert|genSignedCert|genPrivateKey|randAlphaNum|randAlpha|randNumeric|randAscii|randBytes|uuidv4|now|lookup)\b/, 'no randomness, clock or cluster lookups in templates')
}

export async function testSchema(t: Test): Promise<void> {
  const refused: Array<[Record<string, unknown>, RegExp]> = [
    [{ replicaCount: 'two' }, /replicaCount/],
    [{ replicaCount: 0 }, /replicaCount/],
    [{ 'webhook.failurePolicy': 'Sometimes' }, /failurePolicy/],
    [{ 'webhook.timeoutSeconds': '5' }, /timeoutSeconds/],
    [{ 'webhook.matchConditions.enabled': 'yes' }, /enabled/],
    [{ 'servingCert.mode': 'vault' }, /mode/],
    [{ 'servingCert.mode': 'secret' }, /secret/],
    [{ targets: [{ namespace: 'Bad_NS', contourServiceAccount: 'contour' }] }, /namespace/],
    [{ targets: [{ namespace: 'projectcontour' }] }, /contourServiceAccount/],
    [{ 'webhook.url': 'http://plain' }, /url/],
    [{ bogus: true }, /bogus/],
    [{ 'injection.existingTls': 'some' }, /existingTls/],
    [{ 'injection.bootstrapMode': 'always' }, /bootstrapMode.*'auto', 'sidecar', 'init'/],
    [{ targets: [{ namespace: 'projectcontour', contourServiceAccount: 'contour', instances: ['-Bad_Suffix'] }] }, /instances/],
    [{ 'webhook.timeoutSecond': 5 }, /timeoutSecond/],
  ]
  for (const [values, message] of refused) {
    const res = await helm(['template', 'contour-tls-injector', CHART_DIR, ...valueArgs(values)])
    t.not(res.code, 0, `refused: ${JSON.stringify(values)}`)
    t.match(res.stderr, /values don't meet the specifications of the schema/, 'by the schema')
    t.match(res.stderr, message, 'naming the value')
  }
  const grace = await helm(['template', 'contour-tls-injector', CHART_DIR, ...valueArgs({ terminationGracePeriodSeconds: 10, 'webhook.drainSeconds': 15 })])
  t.not(grace.code, 0, 'a grace period not above the drain period is refused')
  t.match(grace.stderr, /terminationGracePeriodSeconds/)
}

/**
 * injection.bootstrapMode reaches the webhook as --bootstrap-mode; auto follows the Kubernetes
 * version Helm renders for (native sidecars are on by default from 1.29).
 */
export async function testBootstrapMode(t: Test): Promise<void> {
  const modeFor = async (kubeVersion: string, values: Readonly<Record<string, unknown>> = {}): Promise<string | undefined> => {
    const res = await helm(['template', 'contour-tls-injector', CHART_DIR, '--namespace', 'cti-system', '--kube-version', kubeVersion, ...valueArgs(values)])
    if (res.code !== 0) throw new Error(`helm template failed (${res.code}): ${res.stderr}`)
    const args = podSpecOf(findOne(parseManifests(res.stdout), 'Deployment')).containers[0]?.args ?? []
    t.equal(args.filter((a) => a.startsWith('--bootstrap-mode=')).length, 1, `one --bootstrap-mode (${kubeVersion})`)
    // The real parser of the webhook reads it: what the chart passes is what the webhook does.
    return parseWebhookConfig(args.slice(1), { POD_NAMESPACE: 'cti-system' }).injection.bootstrapMode
  }
  t.equal(await modeFor('1.28.15'), 'init', 'auto on 1.28: a plain init container')
  t.equal(await modeFor('1.29.0'), 'sidecar', 'auto on 1.29: a native sidecar')
  t.equal(await modeFor('1.34.4'), 'sidecar', 'auto on 1.34: a native sidecar')
  t.equal(await modeFor('v1.30.2-eks-1552ad0'), 'sidecar', 'a vendor version string with a pre-release part')
  t.equal(await modeFor('1.34.4', { 'injection.bootstrapMode': 'init' }), 'init', 'init chosen on 1.34')
  t.equal(await modeFor('1.28.15', { 'injection.bootstrapMode': 'sidecar' }), 'sidecar', 'sidecar chosen on 1.28 (e.g. the feature gate turned on)')
}

export async function testRbac(t: Test): Promise<void> {
  const { objects } = await template({ targets: twoTargets })
  for (const { namespace } of twoTargets) {
    const role = findOne(objects.filter((o) => o.metadata.namespace === namespace), 'Role')
    t.equal(role.metadata.name, RBAC_NAME, `Role ${namespace}/${RBAC_NAME}`)
    t.same(role.rules, buildSecretsRole(namespace).rules, 'exactly create on Secrets and get/update on the three names (test/e2e/rbac.ts)')
    const binding = findOne(objects.filter((o) => o.metadata.namespace === namespace), 'RoleBinding')
    t.same(binding.subjects, [{ kind: 'ServiceAccount', name: 'contour', namespace }], 'bound to Contour\'s service account only')
    t.same(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: RBAC_NAME })
  }
  const subjects = objects.flatMap((o) => ((o.subjects as Array<{ name: string }> | undefined) ?? []).map((s) => s.name))
  t.notOk(subjects.some((s) => /envoy/.test(s)), 'Envoy\'s service account is bound to nothing')
  const renamed = await template({ 'injection.secretNames': { contour: 'a', envoy: 'b', ca: 'c' } })
  t.same(findOne(renamed.objects.filter((o) => o.metadata.namespace === 'projectcontour'), 'Role').rules, buildSecretsRole('projectcontour', { contour: 'a', envoy: 'b', ca: 'c' }).rules, 'renamed Secrets are what the Role names')

  // One Role per Contour service account; instances name the taken-over certgen sets it keeps.
  const gateway = await template({ targets: [{ namespace: 'projectcontour', contourServiceAccount: 'contour' }, { namespace: 'projectcontour', contourServiceAccount: 'contour-gw', instances: ['-gw', '-other'] }] })
  const gwRole = findOne(gateway.objects, 'Role', `${RBAC_NAME}-contour-gw`)
  t.same(gwRole.rules, buildSecretsRole('projectcontour', undefined, ['-gw', '-other']).rules, 'an instance list grants exactly its sets (contour-tls-gw, ..., contour-ca-other)')
  t.same(findOne(gateway.objects, 'RoleBinding', `${RBAC_NAME}-contour-gw`).subjects, [{ kind: 'ServiceAccount', name: 'contour-gw', namespace: 'projectcontour' }], 'bound to that service account')
  t.same(findOne(gateway.objects, 'Role', RBAC_NAME).rules, buildSecretsRole('projectcontour').rules, 'the plain target beside it is unchanged')

  const self = objects.filter((o) => o.metadata.name === 'contour-tls-injector-serving-cert' || o.metadata.name === 'contour-tls-injector-webhook-configuration')
  t.same(findOne(self, 'Role').rules, servingSecretRules('contour-tls-injector-serving-cert'), 'self mode: the webhook\'s Secret by name, create on Secrets (test/serving-cert/rbac.ts)')
  t.same(findOne(self, 'ClusterRole').rules, webhookConfigurationRules('contour-tls-injector'), 'and get/patch on its own MutatingWebhookConfiguration by name')
  for (const kind of ['RoleBinding', 'ClusterRoleBinding']) {
    t.same(findOne(self, kind).subjects, [{ kind: 'ServiceAccount', name: 'contour-tls-injector', namespace: 'cti-system' }], `${kind} to the webhook's ServiceAccount`)
  }
  for (const values of [{ 'servingCert.mode': 'certManager' }, { 'servingCert.mode': 'secret', 'servingCert.secret.name': 'x', 'servingCert.secret.caBundle': 'Zm9v' }]) {
    const other = (await template(values)).objects
    t.notOk(other.some((o) => o.kind === 'ClusterRole' || o.metadata.name.endsWith('-serving-cert') && o.kind === 'Role'), `no webhook RBAC in ${values['servingCert.mode']} mode`)
    t.equal(podSpecOf(findOne(other, 'Deployment')).automountServiceAccountToken, false, 'and no token mounted')
  }
}

export async function testWebhookConfiguration(t: Test): Promise<void> {
  const strip = (w: Record<string, unknown>) => Object.fromEntries(Object.entries(w).filter(([k]) => k !== 'clientConfig'))
  const cases: Array<{ values: Record<string, unknown>; opts: Parameters<typeof buildWebhookConfiguration>[0] extends infer O ? Partial<O> : never }> = [
    { values: {}, opts: {} },
    { values: { 'webhook.failurePolicy': 'Ignore', 'webhook.timeoutSeconds': 7 }, opts: { failurePolicy: 'Ignore', timeoutSeconds: 7 } },
  ]
  for (const { values, opts } of cases) {
    const mwc = findOne((await template(values)).objects, 'MutatingWebhookConfiguration')
    const helper = buildWebhookConfiguration({ client: { service: { name: 'contour-tls-injector', namespace: 'cti-system' }, caBundlePem: '' }, ...opts }) as { metadata: { name: string }; webhooks: Array<Record<string, unknown>> }
    t.equal(mwc.metadata.name, helper.metadata.name, 'same name as the local cluster\'s registration')
    const webhooks = mwc.webhooks as Array<Record<string, unknown>>
    t.equal(webhooks.length, 1)
    t.same(strip(webhooks[0] ?? {}), strip(helper.webhooks[0] ?? {}), `every field but clientConfig equals scripts/cluster/webhook-configuration.ts (${JSON.stringify(values)})`)
    t.same(webhooks[0]?.clientConfig, { service: { name: 'contour-tls-injector', namespace: 'cti-system', path: '/mutate', port: 443 } }, 'the Service on 443, and no caBundle: the webhook applies it (self mode)')
  }
  const mwc = (values: Record<string, unknown>) => template(values).then(({ objects }) => findOne(objects, 'MutatingWebhookConfiguration'))
  const first = async (values: Record<string, unknown>) => ((await mwc(values)).webhooks as Array<Record<string, unknown>>)[0] ?? {}
  t.notOk('matchConditions' in (await first({ 'webhook.matchConditions.enabled': false })), 'matchConditions off for older clusters')
  // Helm merges maps: a custom selector keeps the default label unless matchLabels is nulled.
  const teams = { matchExpressions: [{ key: 'team', operator: 'In', values: ['edge'] }] }
  t.same((await first({ 'webhook.namespaceSelector': teams })).namespaceSelector, { matchLabels: { 'contour-tls-injection': 'enabled' }, ...teams }, 'a custom namespaceSelector narrows the default (Helm merges maps)')
  t.same((await first({ 'webhook.namespaceSelector': { matchLabels: null, ...teams } })).namespaceSelector, teams, 'and replaces it with matchLabels: null')
  t.same((await first({ 'webhook.url': 'https://10.0.0.5:8443/mutate' })).clientConfig, { url: 'https://10.0.0.5:8443/mutate' }, 'webhook.url replaces the Service (development)')
  t.equal((await mwc({ 'servingCert.mode': 'certManager' })).metadata.annotations?.['cert-manager.io/inject-ca-from'], 'cti-system/contour-tls-injector-serving-cert', 'certManager: cainjector annotation')
  const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n'
  t.same((await first({ 'servingCert.mode': 'secret', 'servingCert.secret.name': 'x', 'servingCert.secret.caBundle': pem })).clientConfig, { service: { name: 'contour-tls-injector', namespace: 'cti-system', path: '/mutate', port: 443 }, caBundle: Buffer.from(pem).toString('base64') }, 'secret mode: the given CA as caBundle')
  t.equal(((await first({ 'servingCert.mode': 'secret', 'servingCert.secret.name': 'x', 'servingCert.secret.caBundle': 'Zm9v' })).clientConfig as { caBundle: string }).caBundle, 'Zm9v', 'base64 given as is')
}

export async function testWorkloads(t: Test): Promise<void> {
  const { objects } = await template({ 'secrets.precreate': true, targets: twoTargets })
  const deployment = findOne(objects, 'Deployment')
  const jobs = objects.filter((o) => o.kind === 'Job')
  t.equal(jobs.length, 2, 'one precreate Job per target')
  for (const o of [deployment, ...jobs]) {
    const spec = podSpecOf(o)
    t.match(spec.securityContext, { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } }, `${o.kind}/${o.metadata.name}: pod security context`)
    for (const c of spec.containers) {
      t.same(c.securityContext, { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } }, `${c.name}: restricted container security context`)
    }
  }
  for (const job of jobs) {
    t.match(job.metadata.annotations, { 'helm.sh/hook': 'pre-install,pre-upgrade', 'helm.sh/hook-delete-policy': 'before-hook-creation,hook-succeeded' }, `${job.metadata.name}: hook`)
    const args = podSpecOf(job).containers[0]?.args ?? []
    t.same(args.slice(0, 3), ['bootstrap-tls', '--role=contour', '--secrets-only'], 'runs bootstrap-tls without waiting for mounts')
  }
  t.same(jobs.map((j) => argValue(podSpecOf(j).containers[0]?.args ?? [], '--namespace')), ['projectcontour', 'heptio-contour'])
  for (const job of jobs) {
    const parsed = parseBootstrapConfig((podSpecOf(job).containers[0]?.args ?? []).slice(1), {})
    t.match(parsed, { mode: 'contour', secretsOnly: true, secretNames: { contour: 'contour-tls', envoy: 'envoy-tls', ca: 'contour-ca' } }, `${job.metadata.name}: bootstrap-tls accepts the Job's args`)
  }

  const spec = podSpecOf(deployment)
  const container = spec.containers[0] ?? { name: '', args: [] }
  const args = container.args ?? []
  const drain = Number(argValue(args, '--drain-seconds'))
  t.ok(Number(spec.terminationGracePeriodSeconds) > drain, `terminationGracePeriodSeconds ${String(spec.terminationGracePeriodSeconds)} > --drain-seconds ${drain}`)
  t.match(container, { readinessProbe: { httpGet: { path: '/readyz', scheme: 'HTTPS', port: 'https' } }, livenessProbe: { httpGet: { path: '/healthz', scheme: 'HTTPS', port: 'https' } }, ports: [{ name: 'https', containerPort: 8443 }] })
  t.match(spec.affinity, { podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ podAffinityTerm: { topologyKey: 'kubernetes.io/hostname' } }] } }, 'replicas spread over nodes')
  t.equal((deployment.spec as { replicas: number }).replicas, 2)
  // The names the self mode uses must be the objects the chart creates.
  t.equal(argValue(args, '--serving-cert-mode'), 'self')
  t.equal(argValue(args, '--service-name'), findOne(objects, 'Service').metadata.name, '--service-name is the Service')
  t.equal(argValue(args, '--webhook-configuration-name'), findOne(objects, 'MutatingWebhookConfiguration').metadata.name, '--webhook-configuration-name is the configuration')
  t.same((findOne(objects, 'Role', 'contour-tls-injector-serving-cert').rules as Array<{ resourceNames?: string[] }>)[1]?.resourceNames, [argValue(args, '--serving-cert-secret')], '--serving-cert-secret is what the Role names')
  t.equal(spec.automountServiceAccountToken, true, 'self mode mounts the token')
  const service = findOne(objects, 'Service')
  t.same((service.spec as { ports: unknown }).ports, [{ name: 'https', port: 443, targetPort: 'https', protocol: 'TCP' }], 'Service 443 -> https (8443)')
  t.ok(objects.some((o) => o.kind === 'PodDisruptionBudget'), 'a PodDisruptionBudget with 2 replicas')
  t.notOk((await template({ replicaCount: 1 })).objects.some((o) => o.kind === 'PodDisruptionBudget'), 'none with 1 replica')
  // The real CLI parser accepts the Deployment's args in every mode.
  const env = { POD_NAMESPACE: 'cti-system' }
  t.equal(argValue(args, '--existing-tls'), 'certgen', 'certgen\'s TLS is taken over by default')
  t.equal(parseWebhookConfig(podSpecOf(findOne((await template({ 'injection.existingTls': 'keep' })).objects, 'Deployment')).containers[0]?.args?.slice(1) ?? [], env).injection.existingTls, 'keep', 'injection.existingTls reaches the webhook')
  t.match(parseWebhookConfig(args.slice(1), env), { port: 8443, drainMs: drain * 1000, tls: { mode: 'self', namespace: 'cti-system', secretName: 'contour-tls-injector-serving-cert', serviceName: 'contour-tls-injector', webhookConfigurationName: 'contour-tls-injector' } }, 'the webhook accepts the self-mode args')
  for (const values of [{ 'servingCert.mode': 'certManager' }, { 'servingCert.mode': 'secret', 'servingCert.secret.name': 'x', 'servingCert.secret.caBundle': 'Zm9v' }]) {
    const modeArgs = podSpecOf(findOne((await template(values)).objects, 'Deployment')).containers[0]?.args ?? []
    t.match(parseWebhookConfig(modeArgs.slice(1), env).tls, { mode: 'files', certFile: '/etc/contour-tls-injector/serving/tls.crt' }, `the webhook accepts the ${values['servingCert.mode']}-mode args`)
  }
  // The webhook runs the image's node and CLI with its own V8 flags; [] falls back to the entrypoint.
  t.same(container.command, ['/usr/local/bin/node', ...WEBHOOK_NODE_FLAGS, '/app/dist/cli.js'], 'the webhook command: node, webhook.nodeFlags, the CLI')
  t.same(WEBHOOK_NODE_FLAGS, ['--max-semi-space-size=2', '--no-maglev'], 'the default flags')
  t.equal(podSpecOf(findOne((await template({ 'webhook.nodeFlags': [] })).objects, 'Deployment')).containers[0]?.command, undefined, 'nodeFlags [] keeps the entrypoint')
  const files = podSpecOf(findOne((await template({ 'servingCert.mode': 'certManager' })).objects, 'Deployment'))
  t.match(files.containers[0]?.args, ['webhook'], 'certManager mode')
  t.ok(files.containers[0]?.args?.includes('--tls-cert-file=/etc/contour-tls-injector/serving/tls.crt'), 'serves the mounted files')
  t.match(files.volumes, [{ name: 'serving-cert', secret: { secretName: 'contour-tls-injector-serving-cert' } }])
  t.notOk(JSON.stringify(files).includes('subPath'), 'no subPath (it would never see renewals)')
}

/** The optional PrometheusRule: off by default; on, its alerts use only metrics the sidecar serves. */
export async function testPrometheusRule(t: Test): Promise<void> {
  const off = await template({})
  t.notOk(off.objects.some((o) => o.kind === 'PrometheusRule'), 'no PrometheusRule by default (it needs the prometheus-operator CRDs)')
  const on = await template({ 'metrics.prometheusRule.enabled': true, 'metrics.prometheusRule.expiresWithinDays': 20 })
  const rule = findOne(on.objects, 'PrometheusRule')
  const rules = (rule.spec as { groups: Array<{ rules: Array<{ alert: string; expr: string }> }> }).groups.flatMap((g) => g.rules)
  t.same(rules.map((r) => r.alert), ['ContourTlsCertificateExpiresSoon', 'ContourTlsCertificateExpiresVerySoon', 'ContourTlsLifecycleStepOverdue'])
  t.match(rules[0]?.expr, /< 1728000$/, 'expiresWithinDays is honoured (20 days in seconds)')
  const set = await freshSet('projectcontour', 1)
  const state = toTrustState(set)
  const record = { fingerprint: fingerprintSet(set), notAfter: new Date(Date.now() + 86_400_000), writtenAt: new Date(), rotateToken: '', rotateTokenHistory: [] }
  const secrets = { ca: { ...buildSecretWrite('ca', 'contour-ca', set, record), resourceVersion: '1' }, contour: { ...buildSecretWrite('contour', 'contour-tls', set, record), resourceVersion: '1' }, envoy: { ...buildSecretWrite('envoy', 'envoy-tls', set, record), resourceVersion: '1' } }
  const served = renderLifecycleMetrics('projectcontour', { secrets, fingerprint: record.fingerprint, notAfter: record.notAfter, outcome: 'used', steps: [], nextAt: Date.now() + 1000, state }, { steps: {}, failedPasses: 0 })
  for (const r of rules) {
    for (const name of r.expr.match(/contour_tls_injector_[a-z_]+/g) ?? []) t.ok(served.includes(`\n${name}{`) || served.startsWith(`${name}{`), `${r.alert}: ${name} is a metric the sidecar serves`)
  }
}
