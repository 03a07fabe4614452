// The chart against a real kube-apiserver: `helm install --dry-run=server` in every mode, Pod
// Security "restricted" enforced on its pod templates, and a real install whose webhook
// configuration points at a webhook run here from the Deployment's own args, as the chart's
// ServiceAccount: it keeps its serving certificate, the apiserver calls it, its RBAC and
// Contour's are exactly what they should be, and Helm upgrades leave its caBundle alone.
import type { Test } from 'tap'
import { X509Certificate } from 'node:crypto'
import type { V1MutatingWebhookConfiguration, V1Pod, V1Secret } from '@kubernetes/client-node'
import type { TestCluster } from '../helpers/cluster.ts'
import { waitFor, type Log } from '../../scripts/cluster/wait.ts'
import { splitCertificates } from '../../src/core/certs/pem-bundle.ts'
import { FIELD_MANAGER, ServingSecretKeys } from '../../src/serving-cert/types.ts'
import { runWebhook } from '../../src/webhook/main.ts'
import { runBootstrapTls } from '../../src/bootstrap/main.ts'
import { contourPod, freePort, servedCertificate } from '../serving-cert/replicas.ts'
import { CHART_DIR, findOne, helm, parseManifests, template, valueArgs, type Manifest } from './helm.ts'

const RELEASE = 'contour-tls-injector'
const MWC_PATH = `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${RELEASE}`

export interface InstallContext {
  readonly cluster: TestCluster
  readonly namespace: string
  readonly log: Log
}

export async function prepareCluster(c: TestCluster): Promise<string> {
  // The chart creates its own MutatingWebhookConfiguration of this name.
  await c.api.raw('DELETE', MWC_PATH)
  for (const [name, labels] of [['projectcontour', { 'contour-tls-injection': 'enabled' }], ['heptio-contour', {}]] as const) {
    await c.api.call('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } })
  }
  return c.createNamespace('cti-system')
}

const helmArgs = (ctx: InstallContext) => ['--namespace', ctx.namespace, '--kubeconfig', ctx.cluster.kubeconfig]

export async function testDryRunServer(t: Test, ctx: InstallContext): Promise<void> {
  await installCertManagerCrdStubs(ctx)
  const sets: Array<Record<string, unknown>> = [
    {},
    { 'secrets.precreate': true, targets: [{ namespace: 'projectcontour', contourServiceAccount: 'contour' }, { namespace: 'heptio-contour', contourServiceAccount: 'contour' }] },
    { 'servingCert.mode': 'secret', 'servingCert.secret.name': 'mine', 'servingCert.secret.caBundle': '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n' },
    { 'servingCert.mode': 'certManager', replicaCount: 1, 'webhook.matchConditions.enabled': false, 'webhook.failurePolicy': 'Ignore' },
  ]
  for (const values of sets) {
    const res = await helm(['install', RELEASE, CHART_DIR, ...helmArgs(ctx), '--dry-run=server', ...valueArgs(values)])
    t.equal(res.code, 0, `helm install --dry-run=server ${JSON.stringify(values)}${res.code === 0 ? '' : `: ${res.stderr}`}`)
  }
}

/** cert-manager is not installed here: schemaless CRDs let the apiserver accept (and validate the rest of) the certManager mode. */
async function installCertManagerCrdStubs(ctx: InstallContext): Promise<void> {
  for (const [kind, plural] of [['Certificate', 'certificates'], ['Issuer', 'issuers']] as const) {
    await ctx.cluster.api.apply(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${plural}.cert-manager.io`, {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: `${plural}.cert-manager.io` },
      spec: {
        group: 'cert-manager.io',
        scope: 'Namespaced',
        names: { kind, plural, singular: kind.toLowerCase(), listKind: `${kind}List` },
        versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
      },
    }, 'test-setup')
    await waitFor(`CRD ${plural}.cert-manager.io to be established`, async () => {
      const crd = await ctx.cluster.api.call<{ status?: { conditions?: Array<{ type: string; status: string }> } }>('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${plural}.cert-manager.io`)
      return crd.status?.conditions?.some((cond) => cond.type === 'Established' && cond.status === 'True') ? true : undefined
    }, { timeoutMs: 30_000, log: ctx.log })
  }
}

export async function testPodSecurity(t: Test, ctx: InstallContext, rendered: readonly Manifest[]): Promise<void> {
  const ns = await ctx.cluster.createNamespace('cti-restricted', { 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/enforce-version': 'latest' })
  for (const o of rendered.filter((m) => m.kind === 'Deployment' || m.kind === 'Job')) {
    const template = (o.spec as { template: { metadata?: Record<string, unknown>; spec: Record<string, unknown> } }).template
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { ...template.metadata, name: `psa-${o.metadata.name}`.slice(0, 63) }, spec: { ...template.spec, serviceAccountName: 'default' } }
    const res = await ctx.cluster.api.raw<{ message?: string }>('POST', `/api/v1/namespaces/${ns}/pods?dryRun=All`, pod)
    t.equal(res.status, 201, `${o.kind}/${o.metadata.name}: admitted where Pod Security "restricted" is enforced${res.status === 201 ? '' : `: ${res.body.message ?? ''}`}`)
  }
  const bad = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'psa-negative' }, spec: { containers: [{ name: 'c', image: 'x' }] } }
  t.equal((await ctx.cluster.api.raw('POST', `/api/v1/namespaces/${ns}/pods?dryRun=All`, bad)).status, 403, 'while a plain pod is refused there (the check is real)')
}

export async function testInstallWithLocalWebhook(t: Test, ctx: InstallContext): Promise<void> {
  const { cluster: c, namespace: ns } = ctx
  const port = await freePort()
  const install = await helm(['install', RELEASE, CHART_DIR, ...helmArgs(ctx), '--wait=false',
    ...valueArgs({ 'webhook.url': `https://127.0.0.1:${port}/mutate`, 'servingCert.self.extraSans': ['127.0.0.1'] })])
  t.equal(install.code, 0, `helm install${install.code === 0 ? '' : `: ${install.stderr}`}`)
  t.match(install.stdout, 'kubectl label namespace projectcontour contour-tls-injection=enabled', 'NOTES: the next step')
  t.match(install.stdout, /custom-columns=.*contour-tls-injection\/status/, 'NOTES: how to check it worked')
  const manifest = parseManifests((await helm(['get', 'manifest', RELEASE, ...helmArgs(ctx)])).stdout)
  const deployment = findOne(manifest, 'Deployment')
  const container = (deployment.spec as { template: { spec: { containers: Array<{ args: string[]; image: string }>; serviceAccountName: string } } }).template.spec
  const args = (container.containers[0]?.args ?? []).filter((a) => a !== 'webhook' && !a.startsWith('--port=') && !a.startsWith('--drain-seconds='))

  // The webhook as the chart would run it, with the chart's ServiceAccount and the Deployment's args.
  const kubeconfig = await c.serviceAccountKubeconfig(ns, container.serviceAccountName)
  const stop = new AbortController()
  let stderr = ''
  const exited = runWebhook([...args, `--port=${port}`, '--host=127.0.0.1', '--drain-seconds=0', `--kubeconfig=${kubeconfig}`, '--log-level=warn'], {
    stdout: { write: () => true }, stderr: { write: (s: string) => (stderr += s) }, env: { POD_NAMESPACE: ns }, stopSignal: stop.signal,
  })
  t.teardown(async () => {
    stop.abort()
    await exited
  })
  const served = await waitFor('the local webhook to serve', async () => servedCertificate(port).catch((err: Error) => {
    if (stderr !== '') throw new Error(stderr)
    throw err
  }), { timeoutMs: 60_000, log: ctx.log })

  const secretName = args.find((a) => a.startsWith('--serving-cert-secret='))?.split('=')[1] ?? ''
  const secret = await c.api.call<V1Secret>('GET', `/api/v1/namespaces/${ns}/secrets/${secretName}`)
  const ca = Buffer.from(secret.data?.[ServingSecretKeys.ca] ?? '', 'base64').toString('utf8')
  t.ok(served.checkIssued(new X509Certificate(ca)) && served.verify(new X509Certificate(ca).publicKey), `serves a certificate of the CA in Secret ${secretName}`)
  for (const name of [RELEASE, `${RELEASE}.${ns}`, `${RELEASE}.${ns}.svc`, `${RELEASE}.${ns}.svc.cluster.local`]) t.equal(served.checkHost(name), name, `for ${name}`)
  const readMwc = () => c.api.call<V1MutatingWebhookConfiguration>('GET', MWC_PATH)
  const before = await readMwc()
  const bundle = before.webhooks?.[0]?.clientConfig.caBundle ?? ''
  t.same(splitCertificates(Buffer.from(bundle, 'base64').toString('utf8')), splitCertificates(ca), 'the chart\'s configuration got that CA as caBundle')

  const pod = await waitFor('a Contour pod to be admitted through the webhook', async () => {
    const res = await c.api.raw<V1Pod & { message?: string }>('POST', '/api/v1/namespaces/projectcontour/pods', { ...contourPod(`contour-${Date.now()}`) })
    if (res.status !== 201) throw new Error(`HTTP ${res.status}: ${res.body.message ?? ''}`)
    return res.body
  }, { timeoutMs: 20_000, log: ctx.log })
  t.equal(pod.spec?.initContainers?.[0]?.name, 'bootstrap-tls', 'a Contour pod in the labelled target namespace is injected')
  t.equal(pod.spec?.initContainers?.[0]?.image, container.containers[0]?.image, 'with the chart\'s image')
  t.match(pod.metadata?.annotations?.['contour-tls-injection/status'], /^injected/)

  await testRbacForReal(t, ctx, secretName)

  // Helm and the webhook share the object without fighting: an upgrade with no change writes
  // nothing, a real change keeps the caBundle, and Helm never owns the caBundle.
  const same = await helm(['upgrade', RELEASE, CHART_DIR, ...helmArgs(ctx), '--reuse-values'])
  t.equal(same.code, 0, `helm upgrade --reuse-values${same.code === 0 ? '' : `: ${same.stderr}`}`)
  const afterSame = await readMwc()
  t.equal(afterSame.metadata?.resourceVersion, before.metadata?.resourceVersion, 'an unchanged upgrade leaves the configuration untouched (no drift)')
  const changed = await helm(['upgrade', RELEASE, CHART_DIR, ...helmArgs(ctx), '--reuse-values', ...valueArgs({ 'webhook.timeoutSeconds': 7 })])
  t.equal(changed.code, 0, 'helm upgrade webhook.timeoutSeconds=7')
  const after = await readMwc()
  t.equal(after.webhooks?.[0]?.timeoutSeconds, 7, 'the change is applied')
  t.equal(after.webhooks?.[0]?.clientConfig.caBundle, bundle, 'and the caBundle is kept')
  const managers = after.metadata?.managedFields ?? []
  t.ok(managers.some((m) => m.manager === FIELD_MANAGER && m.operation === 'Apply'), `the caBundle stays owned by ${FIELD_MANAGER}`)
  t.notOk(managers.some((m) => m.manager !== FIELD_MANAGER && JSON.stringify(m.fieldsV1 ?? {}).includes('f:caBundle')), 'no other manager owns it')
  stop.abort()
  t.equal(await exited, 0, 'the local webhook stops cleanly')
}

/**
 * secrets.precreate: the hook's ServiceAccount and per-target RBAC, applied as rendered, let the
 * Job's exact command create the Secrets (Helm itself cannot run the hook here: no kubelet).
 */
export async function testPrecreateHook(t: Test, ctx: InstallContext): Promise<void> {
  const { objects, text } = await template({ 'secrets.precreate': true, targets: [{ namespace: 'heptio-contour', contourServiceAccount: 'contour' }] }, { namespace: ctx.namespace })
  const rbac = text.split(/^---$/m).filter((doc) => /kind: (ServiceAccount|Role|RoleBinding)\n/.test(doc) && doc.includes('-precreate'))
  t.equal(rbac.length, 3, 'the hook\'s ServiceAccount, Role and RoleBinding')
  const applied = await ctx.cluster.kubectl(['apply', '-f', '-'], { input: rbac.join('\n---\n') })
  t.equal(applied.code, 0, `applied${applied.code === 0 ? '' : `: ${applied.stderr}`}`)
  const job = findOne(objects, 'Job')
  const spec = (job.spec as { template: { spec: { serviceAccountName: string; containers: Array<{ args: string[] }> } } }).template.spec
  const kubeconfig = await ctx.cluster.serviceAccountKubeconfig(ctx.namespace, spec.serviceAccountName)
  let stderr = ''
  const code = await runBootstrapTls([...(spec.containers[0]?.args ?? []).slice(1), `--kubeconfig=${kubeconfig}`], { stdout: { write: () => true }, stderr: { write: (s: string) => (stderr += s) }, env: {} })
  t.equal(code, 0, `bootstrap-tls with the Job's args, as the hook's ServiceAccount${code === 0 ? '' : `: ${stderr}`}`)
  for (const name of ['contour-tls', 'envoy-tls', 'contour-ca']) {
    t.equal((await ctx.cluster.api.raw('GET', `/api/v1/namespaces/heptio-contour/secrets/${name}`)).status, 200, `Secret heptio-contour/${name} exists`)
  }
}

/** The apiserver's own authorizer on what the chart granted (SubjectAccessReview). */
async function testRbacForReal(t: Test, ctx: InstallContext, servingSecret: string): Promise<void> {
  const can = async (sa: string, verb: string, resource: string, where: { namespace?: string; name?: string; group?: string }) => {
    const [saNs, saName] = sa.split('/')
    const review = await ctx.cluster.api.call<{ status: { allowed: boolean } }>('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: { user: `system:serviceaccount:${saNs}:${saName}`, groups: ['system:serviceaccounts', `system:serviceaccounts:${saNs}`, 'system:authenticated'], resourceAttributes: { verb, resource, group: where.group ?? '', namespace: where.namespace, name: where.name } },
    })
    return review.status.allowed
  }
  const contour = 'projectcontour/contour'
  const envoy = 'projectcontour/envoy'
  const webhook = `${ctx.namespace}/${RELEASE}`
  const pc = { namespace: 'projectcontour' }
  const expectations: Array<[string, string, string, { namespace?: string; name?: string; group?: string }, boolean]> = [
    [contour, 'create', 'secrets', pc, true],
    ...['contour-tls', 'envoy-tls', 'contour-ca'].flatMap((name) => [[contour, 'get', 'secrets', { ...pc, name }, true], [contour, 'update', 'secrets', { ...pc, name }, true]] as Array<[string, string, string, { name: string }, boolean]>),
    [contour, 'get', 'secrets', { ...pc, name: 'other' }, false],
    [contour, 'list', 'secrets', pc, false],
    [contour, 'delete', 'secrets', { ...pc, name: 'contour-tls' }, false],
    [contour, 'patch', 'secrets', { ...pc, name: 'contour-tls' }, false],
    [contour, 'create', 'secrets', { namespace: 'heptio-contour' }, false],
    [envoy, 'get', 'secrets', { ...pc, name: 'envoy-tls' }, false],
    [envoy, 'create', 'secrets', pc, false],
    [webhook, 'get', 'secrets', { namespace: ctx.namespace, name: servingSecret }, true],
    [webhook, 'update', 'secrets', { namespace: ctx.namespace, name: servingSecret }, true],
    [webhook, 'create', 'secrets', { namespace: ctx.namespace }, true],
    [webhook, 'get', 'secrets', { namespace: ctx.namespace, name: 'other' }, false],
    [webhook, 'get', 'secrets', { namespace: 'projectcontour', name: 'contour-tls' }, false],
    [webhook, 'get', 'mutatingwebhookconfigurations', { group: 'admissionregistration.k8s.io', name: RELEASE }, true],
    [webhook, 'patch', 'mutatingwebhookconfigurations', { group: 'admissionregistration.k8s.io', name: RELEASE }, true],
    [webhook, 'patch', 'mutatingwebhookconfigurations', { group: 'admissionregistration.k8s.io', name: 'someone-else' }, false],
    [webhook, 'list', 'mutatingwebhookconfigurations', { group: 'admissionregistration.k8s.io' }, false],
    [webhook, 'update', 'mutatingwebhookconfigurations', { group: 'admissionregistration.k8s.io', name: RELEASE }, false],
  ]
  for (const [sa, verb, resource, where, allowed] of expectations) {
    t.equal(await can(sa, verb, resource, where), allowed, `${sa} ${allowed ? 'may' : 'may not'} ${verb} ${resource}${where.name ? `/${where.name}` : ''}${where.namespace ? ` in ${where.namespace}` : ''}`)
  }
}
