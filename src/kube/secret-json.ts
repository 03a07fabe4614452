// Secrets as the API's JSON carries them (data base64-encoded) and as bootstrap-tls holds them
// (data as bytes). Type-only use of client-node's V1Secret: nothing is loaded at run time.
import type { V1Secret } from '@kubernetes/client-node'
import type { SecretWrite, StoredSecret } from '../bootstrap/secret-model.ts'

export function toV1Secret(secret: SecretWrite, namespace: string, resourceVersion?: string): V1Secret {
  const data: Record<string, string> = {}
  for (const [key, value] of Object.entries(secret.data)) data[key] = value.toString('base64')
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: secret.name,
      namespace,
      labels: { ...secret.labels },
      annotations: { ...secret.annotations },
      // A replace is a full PUT: what others put in metadata and we carry through must go back.
      ...(secret.ownerReferences ? { ownerReferences: [...secret.ownerReferences] } : {}),
      ...(resourceVersion ? { resourceVersion } : {}),
    },
    type: secret.type,
    data,
  }
}

export function fromV1Secret(secret: V1Secret): StoredSecret {
  const data: Record<string, Buffer> = {}
  for (const [key, value] of Object.entries(secret.data ?? {})) data[key] = Buffer.from(value, 'base64')
  return {
    name: secret.metadata?.name ?? '',
    type: secret.type ?? 'Opaque',
    data,
    labels: secret.metadata?.labels ?? {},
    annotations: secret.metadata?.annotations ?? {},
    ...(secret.metadata?.ownerReferences?.length ? { ownerReferences: secret.metadata.ownerReferences } : {}),
    resourceVersion: secret.metadata?.resourceVersion ?? '',
  }
}
