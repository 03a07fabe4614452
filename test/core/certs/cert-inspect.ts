// Test-side certificate inspection: Node's X509Certificate for what it exposes, node-forge's
// parser for what it does not (extension criticality, key usage bits, key identifiers).
import { X509Certificate } from 'node:crypto'
import forge from 'node-forge'

export const OID = {
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  sha256WithRsa: '1.2.840.113549.1.1.11',
} as const

export interface ExtensionView {
  readonly critical: boolean
  readonly [field: string]: unknown
}

export function extensionOf(pem: string, name: string): ExtensionView | undefined {
  const ext = forge.pki.certificateFromPem(pem).getExtension(name)
  return ext === undefined || ext === null ? undefined : (ext as ExtensionView)
}

/** Hex of the keyIdentifier ([0]) inside an authorityKeyIdentifier extension. */
export function authorityKeyIdOf(pem: string): string | undefined {
  const ext = extensionOf(pem, 'authorityKeyIdentifier')
  if (typeof ext?.['value'] !== 'string') return undefined
  const seq = forge.asn1.fromDer(ext['value'])
  const first = Array.isArray(seq.value) ? seq.value[0] : undefined
  return typeof first?.value === 'string' ? forge.util.bytesToHex(first.value) : undefined
}

export function subjectKeyIdOf(pem: string): string | undefined {
  const value = extensionOf(pem, 'subjectKeyIdentifier')?.['subjectKeyIdentifier']
  return typeof value === 'string' ? value : undefined
}

export function signatureOidOf(pem: string): string {
  return forge.pki.certificateFromPem(pem).signatureOid
}

/** `DNS:a, IP Address:1.2.3.4` as a list, in certificate order. */
export function sansOf(pem: string): string[] {
  return (new X509Certificate(pem).subjectAltName ?? '').split(', ').filter((s) => s !== '')
}

export function x509(pem: string): X509Certificate {
  return new X509Certificate(pem)
}
