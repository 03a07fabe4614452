// Stable identity of a set (for Secret annotations) and material equality. Native crypto only:
// this module is on the init container's start-up path and must not load node-forge.
import { createHash, createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto'
import { InjectorError } from '../../errors.ts'
import { splitCertificates } from './pem-bundle.ts'
import { CertErrorCodes, type CertificateSet } from './types.ts'

/**
 * Hex SHA-256 over the concatenated DER encodings. DER is self-delimiting (tag, length,
 * value), so the concatenation is unambiguous without separators.
 */
export function fingerprintDers(ders: readonly Uint8Array[]): string {
  const hash = createHash('sha256')
  for (const der of ders) hash.update(der)
  return hash.digest('hex')
}

/**
 * Hex SHA-256 over the DER of every CA of the caCert bundle, contourCert and envoyCert, in that
 * order, so a bundle that gains or loses a CA is another identity. Keys are left out: they are
 * bound to the certificates, and the identity is safe to publish.
 * Throws ERR_CERT_MALFORMED if a certificate does not parse.
 */
export function fingerprintSet(set: CertificateSet): string {
  const cas = splitCertificates(set.caCert)
  if (cas.length === 0) throw new InjectorError(CertErrorCodes.ERR_CERT_MALFORMED, 'caCert is not a PEM certificate')
  return fingerprintDers([
    ...cas.map((pem) => parseCertDer(pem, 'caCert')),
    parseCertDer(set.contourCert, 'contourCert'),
    parseCertDer(set.envoyCert, 'envoyCert'),
  ])
}

/**
 * True when both sets hold the same certificates and keys, compared as parsed material so
 * that PEM line endings, trailing newlines and PKCS#1 vs PKCS#8 key encoding do not matter.
 * Anything unparsable compares unequal.
 */
export function isSameMaterial(a: CertificateSet, b: CertificateSet): boolean {
  try {
    return (
      fingerprintSet(a) === fingerprintSet(b) &&
      parseKey(a.contourKey).equals(parseKey(b.contourKey)) &&
      parseKey(a.envoyKey).equals(parseKey(b.envoyKey))
    )
  } catch {
    return false
  }
}

function parseCertDer(pem: string, field: string): Buffer {
  try {
    return new X509Certificate(pem).raw
  } catch (cause) {
    throw new InjectorError(CertErrorCodes.ERR_CERT_MALFORMED, `${field} is not a PEM certificate`, { cause })
  }
}

function parseKey(pem: string): KeyObject {
  return createPrivateKey(pem)
}
