// Both SecretStores against the fake apiserver: each HTTP answer becomes the right kind, with the
// same messages. `https` (node:https, credentials read by api-target.ts) is what bootstrap-tls
// uses; `client-node` (CoreV1Api) is what the webhook's --serving-cert-mode=self uses.
import { once } from 'node:events'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { KubeConfig } from '@kubernetes/client-node'
import t, { type Test } from 'tap'
import type { SecretWrite } from '../../src/bootstrap/secret-model.ts'
import type { SecretStore } from '../../src/bootstrap/secret-store.ts'
import { loadApiTarget } from '../../src/kube/api-target.ts'
import { createHttpsSecretStore } from '../../src/kube/https-secret-store.ts'
import { createKubeSecretStore } from '../../src/kube/secret-store.ts'
import { kubeconfigFor, startFakeApiServer } from '../helpers/fake-apiserver.ts'

type StoreFor = (kubeconfigPath: string, namespace?: string, requestTimeoutMs?: number) => Promise<SecretStore>

const FLAVOURS: Record<string, (t: Test) => StoreFor> = {
  'client-node': () => async (kubeconfigPath, namespace = 'store', requestTimeoutMs) => {
    const kubeConfig = new KubeConfig()
    kubeConfig.loadFromFile(kubeconfigPath)
    return createKubeSecretStore({ kubeConfig, namespace, identity: 'service account "store:tester"', requestTimeoutMs })
  },
  https: (t) => async (kubeconfigPath, namespace = 'store', requestTimeoutMs) => {
    const target = await loadApiTarget({ kubeconfig: kubeconfigPath, namespace, env: {}, serviceAccountDir: '/nonexistent/serviceaccount' })
    t.equal(target.connection.via, 'direct', 'credentials read without client-node')
    const store = createHttpsSecretStore({ connection: target.connection, namespace, identity: 'service account "store:tester"', requestTimeoutMs })
    t.teardown(() => store.close())
    return store
  },
}

for (const [flavour, makeStoreFor] of Object.entries(FLAVOURS)) {
  t.test(`${flavour} store`, async (t) => {
    const api = await startFakeApiServer()
    t.teardown(() => api.close())
    const dir = await mkdtemp(join(tmpdir(), 'store-'))
    const storeFor = makeStoreFor(t)
    const store = await storeFor(await api.writeKubeconfig(dir))
    const binary = Buffer.from([0, 255, 254, 10, 13, 128])
    const secret: SecretWrite = { name: 's1', type: 'Opaque', data: { 'ca.crt': Buffer.from('pem'), bin: binary }, labels: { a: 'b' }, annotations: { c: 'd' } }

    t.test('get, create (409 AlreadyExists), replace (409 Conflict, 404), data round trip', async (t) => {
      t.equal(await store.get('s1'), undefined, '404 on get is "absent"')
      const created = await store.create(secret)
      t.match(created, { name: 's1', type: 'Opaque', labels: { a: 'b' }, annotations: { c: 'd' } })
      t.ok(created.data.bin?.equals(binary), 'binary data survives base64 both ways')
      await t.rejects(store.create(secret), { name: 'SecretStoreError', kind: 'already-exists', status: 409, code: 'ERR_API' })
      const replaced = await store.replace({ ...secret, annotations: { c: 'e' } }, created.resourceVersion)
      t.ok(Number(replaced.resourceVersion) > Number(created.resourceVersion))
      await t.rejects(store.replace(secret, created.resourceVersion), { kind: 'conflict', message: /update Secret s1 in namespace store: 409 \(the API said: Operation cannot be fulfilled/ })
      await t.rejects(store.replace({ ...secret, name: 'nope' }, '1'), { name: 'SecretStoreError', kind: 'not-found' })
      await t.rejects(store.replace({ ...secret, type: 'kubernetes.io/tls', data: { 'tls.crt': binary, 'tls.key': binary } }, replaced.resourceVersion), { name: 'SecretStoreError', kind: 'failed', status: 422, message: /field is immutable/ })
    })

    t.test('403, 401, 5xx and 429 map to forbidden, unauthorized and unavailable', async (t) => {
      api.inject({ verb: 'get', name: 'f', status: 403, times: 1 })
      await t.rejects(store.get('f'), {
        kind: 'forbidden',
        code: 'ERR_FORBIDDEN',
        message: /get Secret f in namespace store: 403 Forbidden: service account "store:tester" may not "get" resource "secrets" in namespace "store"; grant it with a Role allowing verb "get" on secrets \(resourceNames may list "f"\).*the API said: secrets "f" is forbidden: User "system:serviceaccount:test:contour"/,
      })
      api.inject({ verb: 'get', name: 'u', status: 500, times: 1 })
      await t.rejects(store.get('u'), { name: 'SecretStoreError', kind: 'unavailable', status: 500 })
      api.inject({ verb: 'create', status: 429, times: 1, retryAfterSeconds: 2 })
      await t.rejects(store.create({ ...secret, name: 'r' }), { name: 'SecretStoreError', kind: 'unavailable', status: 429, retryAfterMs: 2000 })
      api.inject({ verb: 'get', name: 'x', status: 'reset', times: 1 })
      await t.rejects(store.get('x'), { name: 'SecretStoreError', kind: 'unavailable' })
      const badToken = await storeFor(await api.writeKubeconfig(dir, { token: 'wrong', fileName: 'bad' }))
      await t.rejects(badToken.get('s1'), { kind: 'unauthorized', code: 'ERR_UNAUTHORIZED', message: /401 Unauthorized: the API rejected the credentials of service account "store:tester"/ })
      api.clearFaults()
    })

    t.test('a request that hangs is abandoned after the request timeout and retried as unavailable', async (t) => {
      const hanging = createServer(() => undefined) // accepts, never answers
      hanging.listen(0, '127.0.0.1')
      await once(hanging, 'listening')
      t.teardown(() => {
        hanging.closeAllConnections()
        hanging.close()
      })
      const path = join(dir, 'hanging')
      const kc = JSON.parse(kubeconfigFor(`http://127.0.0.1:${(hanging.address() as AddressInfo).port}`, undefined, 'tok'))
      await writeFile(path, JSON.stringify(kc))
      const started = Date.now()
      await t.rejects((await storeFor(path, 'store', 300)).get('s1'), { name: 'SecretStoreError', kind: 'unavailable', message: /request timed out/ })
      t.ok(Date.now() - started < 2000)
    })

    t.test('a server certificate the CA does not vouch for is a failure, not retried', async (t) => {
      const other = await startFakeApiServer()
      t.teardown(() => other.close())
      const path = join(dir, 'wrong-ca')
      await writeFile(path, kubeconfigFor(other.url, api.certificate?.caCert, other.token))
      await t.rejects((await storeFor(path)).get('s1'), { name: 'SecretStoreError', kind: 'failed' })
    })
  })
}
