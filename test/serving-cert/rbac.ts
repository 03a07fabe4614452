// THE RBAC of the webhook in `--serving-cert-mode=self`, and all of it: its serving Secret by
// name (get, update), create on Secrets in its namespace (create cannot be limited by name),
// and its MutatingWebhookConfiguration by name (get, patch). self-mode.test.ts runs the webhook
// with exactly this; test/chart checks that the chart renders the same rules.
export interface ServingRbacOptions {
  /** Name of the Role, ClusterRole and their bindings. */
  readonly name: string
  readonly namespace: string
  readonly serviceAccount: string
  readonly secretName: string
  readonly webhookConfigurationName: string
}

export function servingSecretRules(secretName: string): unknown[] {
  return [
    { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
    { apiGroups: [''], resources: ['secrets'], resourceNames: [secretName], verbs: ['get', 'update'] },
  ]
}

export function webhookConfigurationRules(name: string): unknown[] {
  return [{ apiGroups: ['admissionregistration.k8s.io'], resources: ['mutatingwebhookconfigurations'], resourceNames: [name], verbs: ['get', 'patch'] }]
}

/** [path, object] pairs to server-side apply, in order. */
export function buildServingRbac(o: ServingRbacOptions): Array<[string, Record<string, unknown>]> {
  const rbac = '/apis/rbac.authorization.k8s.io/v1'
  const subjects = [{ kind: 'ServiceAccount', name: o.serviceAccount, namespace: o.namespace }]
  const meta = (namespaced: boolean) => ({ name: o.name, ...(namespaced ? { namespace: o.namespace } : {}) })
  return [
    [`/api/v1/namespaces/${o.namespace}/serviceaccounts/${o.serviceAccount}`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: o.serviceAccount, namespace: o.namespace } }],
    [`${rbac}/namespaces/${o.namespace}/roles/${o.name}`, { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: meta(true), rules: servingSecretRules(o.secretName) }],
    [`${rbac}/namespaces/${o.namespace}/rolebindings/${o.name}`, { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: meta(true), roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: o.name }, subjects }],
    [`${rbac}/clusterroles/${o.name}`, { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: meta(false), rules: webhookConfigurationRules(o.webhookConfigurationName) }],
    [`${rbac}/clusterrolebindings/${o.name}`, { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: meta(false), roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: o.name }, subjects }],
  ]
}
