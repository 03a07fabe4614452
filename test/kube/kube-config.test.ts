// Where credentials, namespace and identity come from.
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import t from 'tap'
import { loadKubeTarget, serviceAccountFromToken } from '../../src/kube/kube-config.ts'
import { kubeconfigFor, makeServiceAccountToken } from '../helpers/fake-apiserver.ts'

const NO_SA = '/nonexistent/serviceaccount'

t.test('service account from a token\'s sub claim', async (t) => {
  t.equal(serviceAccountFromToken(makeServiceAccountToken('projectcontour:contour')), 'projectcontour:contour')
  t.equal(serviceAccountFromToken('not-a-jwt'), undefined)
  t.equal(serviceAccountFromToken(`x.${Buffer.from('{"sub":"system:admin"}').toString('base64url')}.y`), undefined)
  t.equal(serviceAccountFromToken(`x.${Buffer.from('{garbage').toString('base64url')}.y`), undefined)
})

t.test('kubeconfig: namespace from the flag, else the context; identity from the token or user', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kc-'))
  const withSa = join(dir, 'sa.yaml')
  await writeFile(withSa, kubeconfigFor('https://127.0.0.1:6443', undefined, makeServiceAccountToken('ns1:bootstrap'), 'ctx-ns'))
  t.match(loadKubeTarget({ kubeconfig: withSa, namespace: undefined, env: {}, serviceAccountDir: NO_SA }), { namespace: 'ctx-ns', identity: 'service account "ns1:bootstrap"', source: 'kubeconfig' })
  t.match(loadKubeTarget({ kubeconfig: withSa, namespace: 'flag-ns', env: {}, serviceAccountDir: NO_SA }), { namespace: 'flag-ns' })
  const plain = join(dir, 'plain.yaml')
  await writeFile(plain, kubeconfigFor('https://127.0.0.1:6443', undefined, 'opaque-token'))
  t.match(loadKubeTarget({ kubeconfig: plain, namespace: 'n', env: {}, serviceAccountDir: NO_SA }), { identity: 'kubeconfig user "fake-user"' })
  t.throws(() => loadKubeTarget({ kubeconfig: plain, namespace: undefined, env: {}, serviceAccountDir: NO_SA }), { code: 'ERR_CONFIG', message: /no namespace/ })
  t.throws(() => loadKubeTarget({ kubeconfig: join(dir, 'missing.yaml'), namespace: 'n', env: {}, serviceAccountDir: NO_SA }), { code: 'ERR_CONFIG', message: /cannot load kubeconfig/ })
  const other = join(dir, 'other.yaml')
  await writeFile(other, kubeconfigFor('https://10.0.0.1:6443', undefined, 'opaque-token', 'other-ns').replaceAll('fake', 'other'))
  const merged = loadKubeTarget({ kubeconfig: [withSa, other].join(delimiter), namespace: undefined, env: {}, serviceAccountDir: NO_SA })
  t.equal(merged.namespace, 'ctx-ns', 'KUBECONFIG lists are merged, the first file\'s context wins')
})

t.test('in-cluster: host and port from the environment, token, CA and namespace from the service account directory', async (t) => {
  const sa = await mkdtemp(join(tmpdir(), 'sa-'))
  await writeFile(join(sa, 'token'), makeServiceAccountToken('projectcontour:contour'))
  await writeFile(join(sa, 'ca.crt'), 'ca')
  await writeFile(join(sa, 'namespace'), 'projectcontour\n')
  const target = loadKubeTarget({ kubeconfig: undefined, namespace: undefined, env: { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' }, serviceAccountDir: sa })
  t.match(target, { namespace: 'projectcontour', identity: 'service account "projectcontour:contour"', source: 'in-cluster' })
  t.equal(target.kubeConfig.getCurrentCluster()?.server, 'https://[fd00::1]:443')
  t.equal(target.kubeConfig.getCurrentCluster()?.caFile, join(sa, 'ca.crt'))
  t.match(loadKubeTarget({ kubeconfig: undefined, namespace: 'pod-ns', env: { KUBERNETES_SERVICE_HOST: 'h', KUBERNETES_SERVICE_PORT: '443' }, serviceAccountDir: sa }), { namespace: 'pod-ns' }, 'POD_NAMESPACE/--namespace first')
  t.throws(() => loadKubeTarget({ kubeconfig: undefined, namespace: 'n', env: {}, serviceAccountDir: sa }), { code: 'ERR_CONFIG', message: /KUBERNETES_SERVICE_HOST\/PORT unset/ })
  t.throws(() => loadKubeTarget({ kubeconfig: undefined, namespace: 'n', env: { KUBERNETES_SERVICE_HOST: 'h', KUBERNETES_SERVICE_PORT: '1' }, serviceAccountDir: NO_SA }), { code: 'ERR_CONFIG', message: /no token at/ })
})
