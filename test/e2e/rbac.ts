// THE RBAC of bootstrap-tls: what the chart grants Contour's service account in each target
// namespace, and all it grants. The e2e suite applies exactly these objects and checks them
// with the apiserver's own authorizer; the chart's templates must produce the same rules.
// Envoy's service account gets nothing (its init container never calls the API).
import { DEFAULT_SECRET_NAMES } from '../../src/core/injection/types.ts'

export const RBAC_NAME = 'contour-tls-injector-secrets'

export interface SecretNames {
  readonly contour: string
  readonly envoy: string
  readonly ca: string
}

/**
 * `create` cannot be limited by name (the name is not known to the authorizer before the object
 * exists). `instances`: certgen suffixes whose sets Contour may keep (`""` is the plain set).
 */
export function buildSecretsRole(namespace: string, names: SecretNames = DEFAULT_SECRET_NAMES, instances: readonly string[] = ['']): Record<string, unknown> {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: { name: RBAC_NAME, namespace, labels: { 'app.kubernetes.io/name': 'contour-tls-injector' } },
    rules: [
      { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
      { apiGroups: [''], resources: ['events'], verbs: ['create'] },
      { apiGroups: [''], resources: ['secrets'], resourceNames: instances.flatMap((s) => [`${names.contour}${s}`, `${names.envoy}${s}`, `${names.ca}${s}`]), verbs: ['get', 'update'] },
      // injection.migrateFromCertgen (default true): certgen's Secrets of the same instances.
      { apiGroups: [''], resources: ['secrets'], resourceNames: instances.flatMap((s) => [`contourcert${s}`, `envoycert${s}`, `cacert${s}`]), verbs: ['get', 'update'] },
    ],
  }
}

export function buildSecretsRoleBinding(namespace: string, serviceAccount: { readonly name: string; readonly namespace?: string }): Record<string, unknown> {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: RBAC_NAME, namespace, labels: { 'app.kubernetes.io/name': 'contour-tls-injector' } },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: RBAC_NAME },
    subjects: [{ kind: 'ServiceAccount', name: serviceAccount.name, namespace: serviceAccount.namespace ?? namespace }],
  }
}
