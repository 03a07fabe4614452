// Direct Secret access for tests (staging and inspecting state behind bootstrap-tls's back),
// over @kubernetes/client-node, so it works against the fake and a real kube-apiserver alike.
import { ApiException, CoreV1Api, KubeConfig, type V1Secret } from '@kubernetes/client-node'
import type { CertificateSet } from '../../src/core/certs/types.ts'
import { buildSecretWrite, nextTokens, type SecretNames, type SecretRole, type SetState } from '../../src/bootstrap/secret-model.ts'
import { fingerprintSet } from '../../src/core/certs/fingerprint.ts'
import { toV1Secret } from '../../src/kube/secret-store.ts'
import { X509Certificate } from 'node:crypto'

export interface SecretAdmin {
  get(name: string): Promise<V1Secret | undefined>
  /** Create, or replace unconditionally. */
  put(secret: V1Secret): Promise<V1Secret>
  delete(name: string): Promise<void>
}

export function secretAdmin(kubeconfigPath: string, namespace: string): SecretAdmin {
  const kc = new KubeConfig()
  kc.loadFromFile(kubeconfigPath)
  const api = kc.makeApiClient(CoreV1Api)
  const get = async (name: string): Promise<V1Secret | undefined> => {
    try {
      return await api.readNamespacedSecret({ name, namespace })
    } catch (err) {
      if (err instanceof ApiException && err.code === 404) return undefined
      throw err
    }
  }
  return {
    get,
    async put(secret) {
      const name = secret.metadata?.name ?? ''
      const body = { ...secret, metadata: { ...secret.metadata, namespace, resourceVersion: undefined } }
      return (await get(name)) ? api.replaceNamespacedSecret({ name, namespace, body }) : api.createNamespacedSecret({ namespace, body })
    },
    async delete(name) {
      try {
        await api.deleteNamespacedSecret({ name, namespace })
      } catch (err) {
        if (!(err instanceof ApiException && err.code === 404)) throw err
      }
    },
  }
}

export const DEFAULT_NAMES: SecretNames = { contour: 'contour-tls', envoy: 'envoy-tls', ca: 'contour-ca' }

/** The Secret bootstrap-tls would write for `role` of `set` (managed), or the same without our label and annotations. */
export function secretFor(role: SecretRole, set: CertificateSet, opts: SeedOptions = {}): V1Secret {
  const names = opts.names ?? DEFAULT_NAMES
  const record = {
    fingerprint: fingerprintSet(set),
    notAfter: new X509Certificate(set.caCert).validToDate,
    writtenAt: opts.writtenAt ?? new Date(),
    ...nextTokens({}, opts.rotateToken ?? ''),
  }
  const write = buildSecretWrite(role, names[role], set, record, undefined, opts.caState)
  const secret = toV1Secret(write, 'ignored')
  if (opts.managed === false) secret.metadata = { name: names[role] }
  return secret
}

/** Writes the three Secrets of `set` (some roles may be left out). */
export interface SeedOptions {
  readonly names?: SecretNames
  /** false: no label or annotations, as another tool would write it. */
  readonly managed?: boolean
  readonly rotateToken?: string
  readonly writtenAt?: Date
  /** The CA Secret's set-state (default complete); `writing` stages a writer that stopped half-way. */
  readonly caState?: SetState
}

export async function seedSet(admin: SecretAdmin, set: CertificateSet, opts: SeedOptions & { roles?: readonly SecretRole[] } = {}): Promise<void> {
  for (const role of opts.roles ?? (['ca', 'contour', 'envoy'] as const)) await admin.put(secretFor(role, set, opts))
}

export function decode(secret: V1Secret | undefined, key: string): string | undefined {
  const v = secret?.data?.[key]
  return v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8')
}

/** The set the three Secrets hold now (CA from the CA Secret). */
export async function readSet(admin: SecretAdmin, names: SecretNames = DEFAULT_NAMES): Promise<CertificateSet & { secrets: Record<SecretRole, V1Secret | undefined> }> {
  const [ca, contour, envoy] = await Promise.all([admin.get(names.ca), admin.get(names.contour), admin.get(names.envoy)])
  return {
    caCert: decode(ca, 'ca.crt') ?? '',
    contourCert: decode(contour, 'tls.crt') ?? '',
    contourKey: decode(contour, 'tls.key') ?? '',
    envoyCert: decode(envoy, 'tls.crt') ?? '',
    envoyKey: decode(envoy, 'tls.key') ?? '',
    secrets: { ca, contour, envoy },
  }
}
