// 3. Least privilege, decided by the apiserver's own authorizer (SubjectAccessReview, and
// `kubectl auth can-i --as` for a spot check): Envoy's service account can do nothing with
// Secrets; Contour's can create Secrets and get/update the three named ones, and nothing else.
import type { Test } from 'tap'
import { DEFAULT_SECRET_NAMES } from '../../src/core/injection/types.ts'
import type { TestCluster } from '../helpers/cluster.ts'
import { createContourNamespace } from './secrets.ts'

interface Access {
  readonly verb: string
  readonly name?: string
  readonly namespace?: string
}

const NAMED = Object.values(DEFAULT_SECRET_NAMES)
const ALL_VERBS = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection']

async function allowed(cluster: TestCluster, namespace: string, serviceAccount: string, access: Access): Promise<boolean> {
  const review = await cluster.api.call<{ status: { allowed: boolean } }>('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
    apiVersion: 'authorization.k8s.io/v1',
    kind: 'SubjectAccessReview',
    spec: {
      user: `system:serviceaccount:${namespace}:${serviceAccount}`,
      groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'],
      resourceAttributes: { namespace: access.namespace ?? namespace, verb: access.verb, resource: 'secrets', ...(access.name === undefined ? {} : { name: access.name }) },
    },
  })
  return review.status.allowed
}

const describe = (a: Access) => `${a.verb} secrets${a.name === undefined ? '' : `/${a.name}`}${a.namespace === undefined ? '' : ` in ${a.namespace}`}`

export async function testLeastPrivilege(t: Test, cluster: TestCluster): Promise<void> {
  const { namespace } = await createContourNamespace(cluster, 'rbac')
  const other = await cluster.createNamespace('rbac-other')

  await t.test('Contour\'s service account: create Secrets, get/update the three named ones, nothing else', async (t) => {
    const granted: Access[] = [{ verb: 'create' }, ...NAMED.flatMap((name) => [{ verb: 'get', name }, { verb: 'update', name }])]
    const denied: Access[] = [
      ...['list', 'watch', 'delete', 'deletecollection', 'get', 'update', 'patch'].map((verb) => ({ verb })),
      ...NAMED.flatMap((name) => ['patch', 'delete', 'watch', 'list'].map((verb) => ({ verb, name }))),
      ...['get', 'update'].map((verb) => ({ verb, name: 'some-other-secret' })),
      { verb: 'create', namespace: other },
      ...NAMED.map((name) => ({ verb: 'get', name, namespace: other })),
    ]
    for (const a of granted) t.ok(await allowed(cluster, namespace, 'contour', a), `may ${describe(a)}`)
    for (const a of denied) t.notOk(await allowed(cluster, namespace, 'contour', a), `may not ${describe(a)}`)
  })

  await t.test('Envoy\'s service account can do nothing with Secrets', async (t) => {
    for (const verb of ALL_VERBS) {
      for (const name of [undefined, ...NAMED]) {
        if (name !== undefined && (verb === 'create' || verb === 'deletecollection')) continue
        const a = { verb, ...(name === undefined ? {} : { name }) }
        t.notOk(await allowed(cluster, namespace, 'envoy', a), `may not ${describe(a)}`)
      }
    }
  })

  await t.test('kubectl auth can-i agrees', async (t) => {
    const canI = async (sa: string, ...args: string[]) => (await cluster.kubectl(['auth', 'can-i', `--as=system:serviceaccount:${namespace}:${sa}`, '-n', namespace, ...args])).stdout.trim()
    t.equal(await canI('contour', 'create', 'secrets'), 'yes')
    t.equal(await canI('contour', 'update', 'secrets/contour-ca'), 'yes')
    t.equal(await canI('contour', 'list', 'secrets'), 'no')
    t.equal(await canI('contour', 'get', 'secrets/other'), 'no')
    t.equal(await canI('envoy', 'get', 'secrets/envoy-tls'), 'no')
  })
}
