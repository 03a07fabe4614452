// Building blocks of the set and pair checks. Native crypto only (node:crypto is OpenSSL):
// this runs in the init container at every pod start, where loading node-forge costs time.
// Details name the certificate or key concerned and never quote any PEM.
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto'
import { PINNED_SERVER_NAME } from './issue-options.ts'
import { splitCertificates } from './pem-bundle.ts'
import { CheckReasons, type CheckReason } from './types.ts'

export interface CheckFailure {
  readonly ok: false
  readonly reason: CheckReason
  readonly detail: string
}

export type LeafUsage = 'server' | 'client'

const EKU_OIDS = { server: '1.3.6.1.5.5.7.3.1', client: '1.3.6.1.5.5.7.3.2' } as const
const ANY_EKU_OID = '2.5.29.37.0'

export function fail(reason: CheckReason, detail: string): CheckFailure {
  return { ok: false, reason, detail }
}

export function parseCertificate(pem: unknown, label: string): X509Certificate | CheckFailure {
  if (typeof pem !== 'string' || pem.trim() === '') return fail(CheckReasons.malformed, `the ${label} is missing`)
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    return fail(CheckReasons.malformed, `the ${label} is not a PEM certificate`)
  }
  try {
    return new X509Certificate(pem)
  } catch {
    return fail(CheckReasons.malformed, `the ${label} is not a parsable PEM certificate`)
  }
}

export function parsePrivateKey(pem: unknown, label: string): KeyObject | CheckFailure {
  if (typeof pem !== 'string' || pem.trim() === '') return fail(CheckReasons.malformed, `the ${label} is missing`)
  try {
    // OpenSSL's message is dropped on purpose: nothing derived from the key reaches a detail.
    return createPrivateKey(pem)
  } catch {
    return fail(CheckReasons.malformed, `the ${label} is not a parsable unencrypted PEM private key`)
  }
}

export interface CaBundle {
  /** The first CA: it signed the current leaves, and its time counts. */
  readonly signing: X509Certificate
  /** Every CA of the bundle, the signing one first (overlap CAs after it). */
  readonly all: readonly X509Certificate[]
}

/**
 * A `ca.crt` that may hold several CAs. Each must parse and say CA:true; leaves verify against
 * the first. The others are only trusted: their time is not checked here (an expired one trusts
 * nothing, and the rotation drops it).
 */
export function parseCaBundle(pem: unknown, label: string): CaBundle | CheckFailure {
  if (typeof pem !== 'string' || pem.trim() === '') return fail(CheckReasons.malformed, `the ${label} is missing`)
  const blocks = splitCertificates(pem)
  if (blocks.length === 0) return fail(CheckReasons.malformed, `the ${label} is not a PEM certificate`)
  const all: X509Certificate[] = []
  for (const [i, block] of blocks.entries()) {
    const which = blocks.length === 1 ? label : `${label} (certificate ${i + 1} of ${blocks.length} in the bundle)`
    const cert = parseCertificate(block, which)
    if (isFailure(cert)) return cert
    const notCa = checkCa(cert, which)
    if (notCa !== undefined) return notCa
    all.push(cert)
  }
  return { signing: all[0] as X509Certificate, all }
}

/** The CA must say CA:true; OpenSSL's checkIssued later checks its keyCertSign usage. */
export function checkCa(ca: X509Certificate, label: string): CheckFailure | undefined {
  if (!ca.ca) return fail(CheckReasons.caNotCa, `the ${label} is not a CA certificate (basicConstraints CA:true is missing)`)
  return undefined
}

/**
 * What a TLS peer would check about a leaf, short of time: issued and signed by the CA, key
 * matches, usable for its role, and (server) the DNS SAN `contour` that Envoy pins.
 */
export function checkLeaf(
  ca: X509Certificate,
  leaf: { cert: X509Certificate; key: KeyObject; usage: LeafUsage; name: string },
): CheckFailure | undefined {
  const { cert, key, usage, name } = leaf
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) {
    return fail(CheckReasons.notSignedByCa, `the ${name} certificate is not signed by the CA certificate`)
  }
  // OpenSSL answers false (not an error) for a key of another type, such as EC for an RSA cert.
  if (!cert.checkPrivateKey(key)) {
    return fail(CheckReasons.keyMismatch, `the ${name} private key does not belong to the ${name} certificate`)
  }
  // No extendedKeyUsage extension means any usage, as Go and OpenSSL read it.
  const eku = cert.keyUsage ?? []
  if (eku.length > 0 && !eku.includes(EKU_OIDS[usage]) && !eku.includes(ANY_EKU_OID)) {
    const wanted = usage === 'server' ? 'serverAuth' : 'clientAuth'
    return fail(CheckReasons.wrongUsage, `the ${name} certificate's extended key usage lacks ${wanted}`)
  }
  if (usage === 'server' && cert.checkHost(PINNED_SERVER_NAME, { subject: 'never', wildcards: false }) === undefined) {
    return fail(
      CheckReasons.missingSanContour,
      `the ${name} certificate has no DNS SAN "${PINNED_SERVER_NAME}", the name Envoy's bootstrap pins`,
    )
  }
  return undefined
}

export interface Validity {
  readonly notAfter: Date
  readonly renewAt: Date
}

/**
 * Time checks over every certificate of a set or pair. Renewal is due when less than
 * `renewFraction` of any one certificate's lifetime remains; the set's renewAt is the earliest.
 * A renewFraction of 0 never reports renewal, only expiry.
 */
export function checkValidity(
  certs: readonly { cert: X509Certificate; label: string }[],
  now: Date,
  renewFraction: number,
): CheckFailure | Validity {
  const windows: { label: string; notAfter: Date; renewAt: Date }[] = []
  for (const { cert, label } of certs) {
    const notBefore = cert.validFromDate
    const notAfter = cert.validToDate
    if (now < notBefore) return fail(CheckReasons.notYetValid, `the ${label} is not valid before ${notBefore.toISOString()}`)
    if (now > notAfter) return fail(CheckReasons.expired, `the ${label} expired at ${notAfter.toISOString()}`)
    const lifetime = notAfter.getTime() - notBefore.getTime()
    windows.push({ label, notAfter, renewAt: new Date(notAfter.getTime() - Math.floor(lifetime * renewFraction)) })
  }
  // reduce() without a seed throws on an empty list: callers always pass the CA and a leaf.
  const soonest = windows.reduce((a, b) => (b.renewAt < a.renewAt ? b : a))
  if (renewFraction > 0 && now >= soonest.renewAt) {
    return fail(CheckReasons.renewalDue, `the ${soonest.label} is due for renewal since ${soonest.renewAt.toISOString()}`)
  }
  const notAfter = new Date(Math.min(...windows.map((w) => w.notAfter.getTime())))
  return { notAfter, renewAt: soonest.renewAt }
}

export function isFailure<T extends object>(value: T | CheckFailure): value is CheckFailure {
  return 'ok' in value && value.ok === false
}
