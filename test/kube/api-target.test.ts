// Credentials as bootstrap-tls loads them (api-target.ts), used for real over HTTPS by the node:https
// store: the in-cluster service account, each kubeconfig shape read directly, and the shapes
// handed to @kubernetes/client-node.
import { once } from 'node:events'
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises'
import https from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import type { TLSSocket } from 'node:tls'
import t, { type Test } from 'tap'
import type { SecretWrite } from '../../src/bootstrap/secret-model.ts'
import { issueCertificateSet } from '../../src/core/certs/issue-set.ts'
import { loadApiTarget, type ApiTarget } from '../../src/kube/api-target.ts'
import { createHttpsSecretStore } from '../../src/kube/https-secret-store.ts'
import { kubeconfigFor, makeServiceAccountToken, startFakeApiServer } from '../helpers/fake-apiserver.ts'

const NO_SA = '/nonexistent/serviceaccount'
const api = await startFakeApiServer({ serviceAccount: 'projectcontour:contour' })
t.teardown(() => api.close())
const dir = await mkdtemp(join(tmpdir(), 'api-target-'))
const caCert = api.certificate?.caCert ?? ''
const secret = (name: string): SecretWrite => ({ name, type: 'Opaque', data: { k: Buffer.from('v') }, labels: {}, annotations: {} })

function storeOf(t: Test, target: ApiTarget) {
  const store = createHttpsSecretStore({ connection: target.connection, namespace: target.namespace, identity: target.identity, requestTimeoutMs: 5000 })
  t.teardown(() => store.close())
  return store
}

async function serviceAccountDir(token: string, ca = caCert, namespace = 'projectcontour'): Promise<string> {
  const sa = await mkdtemp(join(tmpdir(), 'serviceaccount-'))
  await writeFile(join(sa, 'token'), token)
  await writeFile(join(sa, 'ca.crt'), ca)
  await writeFile(join(sa, 'namespace'), `${namespace}\n`)
  return sa
}

async function writeJson(name: string, doc: unknown): Promise<string> {
  const path = join(dir, name)
  await writeFile(path, JSON.stringify(doc))
  return path
}

t.test('in-cluster: host/port from the environment, token, CA and namespace from the service account directory', async (t) => {
  const sa = await serviceAccountDir(api.token)
  const env = { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(api.port) }
  const target = await loadApiTarget({ kubeconfig: undefined, namespace: undefined, env, serviceAccountDir: sa })
  t.match(target, { namespace: 'projectcontour', identity: 'service account "projectcontour:contour"', source: 'in-cluster' })
  t.equal(target.connection.via, 'direct')
  t.equal(target.connection.server.href, `https://127.0.0.1:${api.port}/`)
  const store = storeOf(t, target)
  t.equal(await store.get('in-cluster'), undefined)
  t.match(await store.create(secret('in-cluster')), { name: 'in-cluster' })
  t.ok(api.secret('projectcontour', 'in-cluster'), 'written over HTTPS, verified against the service account CA')

  t.match(await loadApiTarget({ kubeconfig: undefined, namespace: 'pod-ns', env, serviceAccountDir: sa }), { namespace: 'pod-ns' }, 'POD_NAMESPACE/--namespace first')
  const v6 = await loadApiTarget({ kubeconfig: '', namespace: undefined, env: { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' }, serviceAccountDir: sa })
  t.equal(v6.connection.server.href, 'https://[fd00::1]/', 'IPv6 service host; an empty --kubeconfig is no kubeconfig')
})

t.test('in-cluster: the token is read again for every request (the kubelet rotates it)', async (t) => {
  const sa = await serviceAccountDir(api.token)
  const target = await loadApiTarget({ kubeconfig: undefined, namespace: undefined, env: { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(api.port) }, serviceAccountDir: sa })
  const store = storeOf(t, target)
  t.equal(await store.get('rotating'), undefined, 'the first token works')
  await writeFile(join(sa, 'token'), makeServiceAccountToken('projectcontour:contour'))
  await t.rejects(store.get('rotating'), { kind: 'unauthorized', message: /401 Unauthorized: the API rejected the credentials of service account "projectcontour:contour"/ }, 'a token the API does not accept is used at once')
  await writeFile(join(sa, 'token'), `${api.token}\n`)
  t.equal(await store.get('rotating'), undefined, 'and so is the next one, same store, same connection pool')
  await writeFile(join(sa, 'token'), '')
  t.equal(await store.get('rotating'), undefined, 'an empty file mid-rotation: the last token read is kept')
})

t.test('in-cluster: missing pieces are ERR_CONFIG before any request', async (t) => {
  const sa = await serviceAccountDir(api.token)
  await t.rejects(loadApiTarget({ kubeconfig: undefined, namespace: 'n', env: {}, serviceAccountDir: sa }), { code: 'ERR_CONFIG', message: /no Kubernetes credentials: not in a cluster \(KUBERNETES_SERVICE_HOST\/PORT unset\) and no --kubeconfig or KUBECONFIG/ })
  await t.rejects(loadApiTarget({ kubeconfig: undefined, namespace: 'n', env: { KUBERNETES_SERVICE_HOST: 'h', KUBERNETES_SERVICE_PORT: '1' }, serviceAccountDir: NO_SA }), { code: 'ERR_CONFIG', message: /no token at \/nonexistent\/serviceaccount\/token/ })
  const noCa = await mkdtemp(join(tmpdir(), 'serviceaccount-'))
  await writeFile(join(noCa, 'token'), api.token)
  await t.rejects(loadApiTarget({ kubeconfig: undefined, namespace: 'n', env: { KUBERNETES_SERVICE_HOST: 'h', KUBERNETES_SERVICE_PORT: '1' }, serviceAccountDir: noCa }), { code: 'ERR_CONFIG', message: /no CA certificate at .*ca\.crt/ })
  await writeFile(join(noCa, 'ca.crt'), caCert)
  await t.rejects(loadApiTarget({ kubeconfig: undefined, namespace: undefined, env: { KUBERNETES_SERVICE_HOST: 'h', KUBERNETES_SERVICE_PORT: '1' }, serviceAccountDir: noCa }), { code: 'ERR_CONFIG', message: /no namespace/ })
  const opaque = await serviceAccountDir('not-a-jwt')
  t.equal((await loadApiTarget({ kubeconfig: undefined, namespace: undefined, env: { KUBERNETES_SERVICE_HOST: 'h', KUBERNETES_SERVICE_PORT: '1' }, serviceAccountDir: opaque })).identity, 'the pod\'s service account')
})

t.test('kubeconfig, token: namespace from the flag, the service account, then the context; identity from the token or the user', async (t) => {
  const withSa = await writeJson('sa.json', JSON.parse(kubeconfigFor(api.url, caCert, api.token, 'ctx-ns')))
  const target = await loadApiTarget({ kubeconfig: withSa, namespace: undefined, env: {}, serviceAccountDir: NO_SA })
  t.match(target, { namespace: 'ctx-ns', identity: 'service account "projectcontour:contour"', source: 'kubeconfig' })
  t.equal(target.connection.via, 'direct')
  t.equal(await storeOf(t, target).get('kc'), undefined)
  t.match(await loadApiTarget({ kubeconfig: withSa, namespace: 'flag-ns', env: {}, serviceAccountDir: NO_SA }), { namespace: 'flag-ns' })
  const sa = await serviceAccountDir(api.token, caCert, 'sa-ns')
  t.match(await loadApiTarget({ kubeconfig: withSa, namespace: undefined, env: {}, serviceAccountDir: sa }), { namespace: 'sa-ns' }, 'as before: the service account namespace file beats the context')
  const plain = await writeJson('plain.json', JSON.parse(kubeconfigFor(api.url, caCert, 'opaque-token')))
  const opaque = await loadApiTarget({ kubeconfig: plain, namespace: 'n', env: {}, serviceAccountDir: NO_SA })
  t.equal(opaque.identity, 'kubeconfig user "fake-user"')
  await t.rejects(storeOf(t, opaque).get('kc'), { kind: 'unauthorized', message: /credentials of kubeconfig user "fake-user"/ })
  await t.rejects(loadApiTarget({ kubeconfig: plain, namespace: undefined, env: {}, serviceAccountDir: NO_SA }), { code: 'ERR_CONFIG', message: /no namespace/ })
  await t.rejects(loadApiTarget({ kubeconfig: join(dir, 'missing.yaml'), namespace: 'n', env: {}, serviceAccountDir: NO_SA }), { code: 'ERR_CONFIG', message: /cannot load kubeconfig/ })
})

t.test('kubeconfig, tokenFile relative to the kubeconfig: read per request, identity from its token', async (t) => {
  const sub = join(dir, 'token-file')
  await mkdir(sub)
  await writeFile(join(sub, 'token'), api.token)
  const doc = JSON.parse(kubeconfigFor(api.url, caCert, '', 'tf-ns'))
  doc.users[0].user = { tokenFile: 'token' }
  const target = await loadApiTarget({ kubeconfig: await writeJson('token-file/config', doc), namespace: undefined, env: {}, serviceAccountDir: NO_SA })
  t.match(target, { namespace: 'tf-ns', identity: 'service account "projectcontour:contour"' })
  const store = storeOf(t, target)
  t.equal(await store.get('tf'), undefined)
  await writeFile(join(sub, 'token'), 'rotated-to-something-invalid')
  await t.rejects(store.get('tf'), { name: 'SecretStoreError', kind: 'unauthorized' })
})

t.test('kubeconfig, insecure-skip-tls-verify: no CA, HTTPS still', async (t) => {
  const target = await loadApiTarget({ kubeconfig: await writeJson('insecure.json', JSON.parse(kubeconfigFor(api.url, undefined, api.token, 'n'))), namespace: undefined, env: {}, serviceAccountDir: NO_SA })
  t.equal(await storeOf(t, target).get('insecure'), undefined)
})

t.test('kubeconfig, tls-server-name: the certificate is checked for that name, not the address', async (t) => {
  // A serving certificate without an IP address: 127.0.0.1 does not match it, kube-api.default.svc does.
  const set = await issueCertificateSet({ namespace: 'default', serviceName: 'kube-api', lifetimeDays: 2 })
  const named = await startFakeApiServer({ certificate: { cert: set.contourCert, key: set.contourKey, caCert: set.caCert } })
  t.teardown(() => named.close())
  const doc = JSON.parse(kubeconfigFor(named.url, set.caCert, named.token, 'n'))
  const without = await loadApiTarget({ kubeconfig: await writeJson('no-server-name.json', doc), namespace: undefined, env: {}, serviceAccountDir: NO_SA })
  await t.rejects(storeOf(t, without).get('x'), { kind: 'failed', message: /IP: 127\.0\.0\.1 is not in the cert's list/ })
  doc.clusters[0].cluster['tls-server-name'] = 'kube-api.default.svc'
  const withName = await loadApiTarget({ kubeconfig: await writeJson('server-name.json', doc), namespace: undefined, env: {}, serviceAccountDir: NO_SA })
  t.equal(await storeOf(t, withName).get('x'), undefined)
})

t.test('kubeconfig, client certificate and key files; a server URL with a path prefix', async (t) => {
  // The fake apiserver knows bearer tokens only: this server requires a client certificate and
  // answers every GET with 404 NotFound, recording the path and the client's certificate.
  const set = await issueCertificateSet({ namespace: 'default', serviceName: 'localhost', extraSans: ['127.0.0.1'], lifetimeDays: 2 })
  const seen: Array<{ path: string; client: string; authorization: string | undefined }> = []
  const server = https.createServer({ cert: set.contourCert, key: set.contourKey, ca: set.caCert, requestCert: true, rejectUnauthorized: true }, (req, res) => {
    seen.push({ path: req.url ?? '', client: String((req.socket as TLSSocket).getPeerCertificate().subject?.CN), authorization: req.headers.authorization as string | undefined })
    res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'Status', code: 404, message: 'not found' }))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => {
    server.closeAllConnections()
    server.close()
  })
  const sub = join(dir, 'client-cert')
  await mkdir(join(sub, 'pki'), { recursive: true })
  await writeFile(join(sub, 'pki', 'ca.crt'), set.caCert)
  await writeFile(join(sub, 'pki', 'client.crt'), set.envoyCert)
  await writeFile(join(sub, 'pki', 'client.key'), set.envoyKey)
  const config = await writeJson('client-cert/config', {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'c', cluster: { server: `https://127.0.0.1:${(server.address() as AddressInfo).port}/k8s/clusters/c-1/`, 'certificate-authority': 'pki/ca.crt' } }],
    users: [{ name: 'admin', user: { 'client-certificate': 'pki/client.crt', 'client-key': 'pki/client.key' } }],
    contexts: [{ name: 'only', context: { cluster: 'c', user: 'admin' } }],
  })
  const target = await loadApiTarget({ kubeconfig: config, namespace: 'ns', env: {}, serviceAccountDir: NO_SA })
  t.match(target, { identity: 'kubeconfig user "admin"', connection: { via: 'direct' } })
  t.equal(await storeOf(t, target).get('s'), undefined)
  t.same(seen, [{ path: '/k8s/clusters/c-1/api/v1/namespaces/ns/secrets/s', client: 'envoy', authorization: undefined }])
})

t.test('shapes for client-node: exec, auth-provider, basic auth, several KUBECONFIG files', async (t) => {
  const base = (): { clusters: Array<{ cluster: Record<string, unknown> }>; users: Array<{ name: string; user: Record<string, unknown> }> } & Record<string, unknown> => JSON.parse(kubeconfigFor(api.url, caCert, api.token, 'fb-ns'))

  const exec = base()
  const credential = JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1beta1', kind: 'ExecCredential', status: { token: api.token } })
  exec.users[0] = { name: 'fake-user', user: { exec: { apiVersion: 'client.authentication.k8s.io/v1beta1', command: '/bin/sh', args: ['-c', `printf '%s' '${credential}'`] } } }
  const viaExec = await loadApiTarget({ kubeconfig: await writeJson('exec.json', exec), namespace: undefined, env: {}, serviceAccountDir: NO_SA })
  t.match(viaExec, { namespace: 'fb-ns', source: 'kubeconfig', connection: { via: 'client-node', fallbackReason: 'user "fake-user" uses exec' } })
  t.equal(await storeOf(t, viaExec).get('fb'), undefined, 'the exec plugin\'s token, applied by client-node, over node:https')

  const sub = join(dir, 'auth-provider')
  await mkdir(sub)
  await writeFile(join(sub, 'token'), api.token)
  const provider = base()
  provider.users[0] = { name: 'fake-user', user: { 'auth-provider': { name: 'file', config: { tokenFile: join(sub, 'token') } } } }
  const viaProvider = await loadApiTarget({ kubeconfig: await writeJson('auth-provider.json', provider), namespace: undefined, env: {}, serviceAccountDir: NO_SA })
  t.equal(viaProvider.connection.via, 'client-node')
  t.equal(await storeOf(t, viaProvider).get('fb'), undefined)

  const basic = base()
  basic.users[0] = { name: 'fake-user', user: { username: 'alice', password: 'pw' } }
  const viaBasic = await loadApiTarget({ kubeconfig: await writeJson('basic.json', basic), namespace: undefined, env: {}, serviceAccountDir: NO_SA })
  t.match(viaBasic, { identity: 'kubeconfig user "alice"', connection: { via: 'client-node' } })
  t.match(await viaBasic.connection.requestSettings(), { auth: 'alice:pw' }, 'basic auth, as client-node builds it')
  await t.rejects(storeOf(t, viaBasic).get('fb'), { kind: 'unauthorized', message: /credentials of kubeconfig user "alice"/ })

  const first = await writeJson('first.json', JSON.parse(kubeconfigFor(api.url, caCert, makeServiceAccountToken('ns1:bootstrap'), 'ctx-ns')))
  const second = await writeJson('second.json', JSON.parse(kubeconfigFor('https://10.0.0.1:6443', undefined, 'opaque-token', 'other-ns').replaceAll('fake', 'other')))
  const merged = await loadApiTarget({ kubeconfig: [first, second].join(delimiter), namespace: undefined, env: {}, serviceAccountDir: NO_SA })
  t.match(merged, { namespace: 'ctx-ns', identity: 'service account "ns1:bootstrap"', connection: { via: 'client-node', fallbackReason: 'KUBECONFIG lists 2 files' } }, 'merged like kubectl: the first file\'s context wins')
})
