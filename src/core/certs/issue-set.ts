// Issues a fresh CA and the Contour (server) and Envoy (client) leaves it signs. The CA's
// private key is a KeyObject local to this module's call: it is never exported, and it is
// unreachable once the leaves are signed, so no Secret, return value or log can hold it.
import forge from 'node-forge'
import {
  buildCertificate,
  ExtKeyUsages,
  generateRsaKeyPair,
  type CertProfile,
  type RsaKeyPair,
} from './build-cert.ts'
import { resolveIssueOptions, type ResolvedIssueOptions } from './issue-options.ts'
import type { CertificateSet, IssueOptions } from './types.ts'

export const CA_COMMON_NAME = 'contour-tls-injector CA'
export const CONTOUR_COMMON_NAME = 'contour'
export const ENVOY_COMMON_NAME = 'envoy'

/** Per-certificate profile changes, for tests that need deliberately wrong certificates. */
export interface IssueOverrides {
  readonly ca?: Partial<CertProfile>
  readonly contour?: Partial<CertProfile>
  readonly envoy?: Partial<CertProfile>
}

/**
 * A new CertificateSet. Leaf keys are unencrypted PKCS#8 PEM (`BEGIN PRIVATE KEY`), which
 * Go's crypto/tls (Contour), BoringSSL (Envoy) and Node all read.
 */
export async function issueCertificateSet(opts: IssueOptions): Promise<CertificateSet> {
  return issueCertificateSetWithOverrides(opts, {})
}

/** issueCertificateSet with profile overrides. Internal: production code has no reason to call it. */
export async function issueCertificateSetWithOverrides(
  opts: IssueOptions,
  overrides: IssueOverrides,
): Promise<CertificateSet> {
  const resolved = resolveIssueOptions(opts)
  const profiles = buildProfiles(resolved, overrides)
  // Three keys in parallel on the threadpool: the wall time of one keygen, not three.
  const [caKeys, contourKeys, envoyKeys] = await Promise.all([
    generateRsaKeyPair(resolved.keyBits),
    generateRsaKeyPair(resolved.keyBits),
    generateRsaKeyPair(resolved.keyBits),
  ])
  const ca = buildCertificate(profiles.ca, caKeys.publicKey, caKeys.privateKey)
  const contour = buildCertificate(profiles.contour, contourKeys.publicKey, caKeys.privateKey, ca)
  const envoy = buildCertificate(profiles.envoy, envoyKeys.publicKey, caKeys.privateKey, ca)
  return Object.freeze({
    caCert: forge.pki.certificateToPem(ca),
    contourCert: forge.pki.certificateToPem(contour),
    contourKey: exportLeafKey(contourKeys),
    envoyCert: forge.pki.certificateToPem(envoy),
    envoyKey: exportLeafKey(envoyKeys),
  })
}

function exportLeafKey(keys: RsaKeyPair): string {
  return keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
}

function buildProfiles(resolved: ResolvedIssueOptions, overrides: IssueOverrides) {
  // The CA lives exactly as long as the leaves: the set is issued and replaced as one.
  const validity = { notBefore: resolved.notBefore, notAfter: resolved.notAfter }
  const ca: CertProfile = {
    commonName: CA_COMMON_NAME,
    isCa: true,
    dnsNames: [],
    ipAddresses: [],
    extKeyUsage: [],
    ...validity,
  }
  const contour: CertProfile = {
    commonName: CONTOUR_COMMON_NAME,
    isCa: false,
    dnsNames: resolved.dnsNames,
    ipAddresses: resolved.ipAddresses,
    extKeyUsage: [ExtKeyUsages.serverAuth],
    ...validity,
  }
  const envoy: CertProfile = {
    commonName: ENVOY_COMMON_NAME,
    isCa: false,
    dnsNames: [],
    ipAddresses: [],
    extKeyUsage: [ExtKeyUsages.clientAuth],
    ...validity,
  }
  return {
    ca: { ...ca, ...overrides.ca },
    contour: { ...contour, ...overrides.contour },
    envoy: { ...envoy, ...overrides.envoy },
  }
}
