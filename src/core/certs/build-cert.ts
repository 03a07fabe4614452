// Lower-level X.509 builder. node-forge lays out the ASN.1; Node's OpenSSL generates keys and
// signs, so RSA work stays native (off the event loop for keygen) and an issuer's private key
// never leaves its KeyObject: it is never exported, serialised or copied into JS strings.
import { generateKeyPair, randomBytes, sign, type KeyObject } from 'node:crypto'
import { promisify } from 'node:util'
import forge from 'node-forge'

const generateKeyPairAsync = promisify(generateKeyPair)

export const ExtKeyUsages = { serverAuth: 'serverAuth', clientAuth: 'clientAuth' } as const
export type ExtKeyUsage = (typeof ExtKeyUsages)[keyof typeof ExtKeyUsages]

/** Everything that differs between the CA and the two leaves. */
export interface CertProfile {
  readonly commonName: string
  readonly isCa: boolean
  readonly dnsNames: readonly string[]
  readonly ipAddresses: readonly string[]
  readonly extKeyUsage: readonly ExtKeyUsage[]
  readonly notBefore: Date
  readonly notAfter: Date
}

export interface RsaKeyPair {
  readonly publicKey: KeyObject
  readonly privateKey: KeyObject
}

/** Native RSA keygen on the libuv threadpool: forge's pure-JS keygen blocks the loop for seconds. */
export async function generateRsaKeyPair(modulusLength: number): Promise<RsaKeyPair> {
  return generateKeyPairAsync('rsa', { modulusLength, publicExponent: 0x10001 })
}

/**
 * 16 random bytes as a hex serial. DER INTEGERs are signed and minimally encoded, so the top
 * bit is cleared (positive) and a zero first byte is replaced (a leading 0x00 would be
 * non-minimal, which Go's parser rejects). That leaves 127 random bits in 16 octets.
 */
export function generateSerialHex(): string {
  const bytes = randomBytes(16)
  bytes.writeUInt8(bytes.readUInt8(0) & 0x7f || 0x01, 0)
  return bytes.toString('hex')
}

// Typed view of a forge function that exists at runtime but is missing from @types/node-forge.
const pki = forge.pki as typeof forge.pki & {
  getTBSCertificate(cert: forge.pki.Certificate): forge.asn1.Asn1
}

/**
 * Builds and signs one certificate. Without `issuerCert` the certificate is self-signed
 * (`signingKey` must then be the private half of `publicKey`).
 */
export function buildCertificate(
  profile: CertProfile,
  publicKey: KeyObject,
  signingKey: KeyObject,
  issuerCert?: forge.pki.Certificate,
): forge.pki.Certificate {
  const cert = pki.createCertificate()
  cert.publicKey = pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString())
  cert.serialNumber = generateSerialHex()
  cert.validity.notBefore = profile.notBefore
  cert.validity.notAfter = profile.notAfter
  const subject = [{ name: 'commonName', value: profile.commonName }]
  cert.setSubject(subject)
  cert.setIssuer(issuerCert ? issuerCert.subject.attributes : subject)
  cert.setExtensions(buildExtensions(profile, issuerCert))
  signNatively(cert, signingKey)
  return cert
}

function buildExtensions(profile: CertProfile, issuerCert: forge.pki.Certificate | undefined): object[] {
  const usage = profile.isCa
    ? { keyCertSign: true, cRLSign: true }
    : { digitalSignature: true, keyEncipherment: true }
  const extensions: object[] = [
    { name: 'basicConstraints', critical: true, cA: profile.isCa },
    { name: 'keyUsage', critical: true, ...usage },
    { name: 'subjectKeyIdentifier' },
  ]
  if (profile.extKeyUsage.length > 0) {
    const eku = Object.fromEntries(profile.extKeyUsage.map((u) => [u, true]))
    extensions.push({ name: 'extKeyUsage', ...eku })
  }
  const altNames = [
    ...profile.dnsNames.map((value) => ({ type: 2, value })),
    ...profile.ipAddresses.map((ip) => ({ type: 7, ip })),
  ]
  if (altNames.length > 0) extensions.push({ name: 'subjectAltName', altNames })
  if (issuerCert) {
    // forge's `keyIdentifier: true` would use the subject's own key: pass the issuer's explicitly.
    const keyIdentifier = issuerCert.generateSubjectKeyIdentifier().getBytes()
    extensions.push({ name: 'authorityKeyIdentifier', keyIdentifier })
  }
  return extensions
}

const SHA256_WITH_RSA_OID = '1.2.840.113549.1.1.11'

// What forge's cert.sign() does, with the RSA step done by OpenSSL (PKCS#1 v1.5, SHA-256).
function signNatively(cert: forge.pki.Certificate, signingKey: KeyObject): void {
  cert.signatureOid = cert.siginfo.algorithmOid = SHA256_WITH_RSA_OID
  cert.tbsCertificate = pki.getTBSCertificate(cert)
  const tbsDer = Buffer.from(forge.asn1.toDer(cert.tbsCertificate).getBytes(), 'binary')
  cert.signature = sign('sha256', tbsDer, signingKey).toString('binary')
}
