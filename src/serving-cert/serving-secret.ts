// The serving Secret as plain data, and the pure conversions between it and ServingMaterial.
// The Secret model, labels and annotations are bootstrap-tls's, so `kubectl get secret -l
// app.kubernetes.io/managed-by=contour-tls-injector` lists both kinds.
import { isManaged, MANAGED_BY, SecretAnnotations, TLS_SECRET_TYPE, type SecretWrite, type StoredSecret } from '../bootstrap/secret-model.ts'
import { ServingSecretKeys, type ServingMaterial } from './types.ts'

export { isManaged }

/** The material a Secret holds, or what is missing. */
export function materialFromSecret(secret: StoredSecret): { material: ServingMaterial } | { missing: string } {
  const text = (key: string): string => secret.data[key]?.toString('utf8') ?? ''
  const material: ServingMaterial = {
    caCert: text(ServingSecretKeys.ca),
    cert: text(ServingSecretKeys.cert),
    key: text(ServingSecretKeys.key),
    previousCaCerts: text(ServingSecretKeys.previousCa),
  }
  for (const key of [ServingSecretKeys.ca, ServingSecretKeys.cert, ServingSecretKeys.key]) {
    if (text(key).trim() === '') return { missing: `${key} of Secret ${secret.name}` }
  }
  return { material }
}

export interface ServingRecord {
  readonly fingerprint: string
  readonly notAfter: Date
  readonly writtenAt: Date
}

/**
 * The Secret for `material`. Labels and annotations others put on an existing Secret are kept
 * (a replace is a full PUT); data is exactly ours.
 */
export function buildServingSecretWrite(name: string, material: ServingMaterial, record: ServingRecord, existing?: StoredSecret): SecretWrite {
  const data: Record<string, Buffer> = {
    [ServingSecretKeys.cert]: Buffer.from(material.cert),
    [ServingSecretKeys.key]: Buffer.from(material.key),
    [ServingSecretKeys.ca]: Buffer.from(material.caCert),
  }
  if (material.previousCaCerts.trim() !== '') data[ServingSecretKeys.previousCa] = Buffer.from(material.previousCaCerts)
  return {
    name,
    type: TLS_SECRET_TYPE,
    data,
    labels: { ...existing?.labels, [MANAGED_BY.key]: MANAGED_BY.value },
    annotations: {
      ...existing?.annotations,
      [SecretAnnotations.fingerprint]: record.fingerprint,
      [SecretAnnotations.notAfter]: record.notAfter.toISOString(),
      [SecretAnnotations.writtenAt]: record.writtenAt.toISOString(),
    },
  }
}
