// The certificate core's contract. PEM strings in and out; no I/O beyond CPU work.

/** One complete set: the CA certificate (its key is never kept) and the two leaves. */
export interface CertificateSet {
  readonly caCert: string
  readonly contourCert: string
  readonly contourKey: string
  readonly envoyCert: string
  readonly envoyKey: string
}

export interface IssueOptions {
  /** Namespace of the Contour Service, for the `contour.<ns>...` SANs. */
  readonly namespace: string
  /** Contour's Service name (default `contour`); SAN `contour` is always present as Envoy pins it. */
  readonly serviceName?: string
  readonly extraSans?: readonly string[]
  /** Lifetime in days (default 365). */
  readonly lifetimeDays?: number
  /** RSA modulus bits (default 2048). */
  readonly keyBits?: number
  /** Clock, for tests. */
  readonly now?: Date
}

export interface CheckOptions {
  readonly now?: Date
  /** Renew when less than this fraction of the lifetime remains (default 1/3). */
  readonly renewFraction?: number
}

/** Closed set of reasons a set or pair is not usable; stable names. */
export const CheckReasons = {
  malformed: 'malformed',
  caNotCa: 'ca-not-ca',
  notSignedByCa: 'not-signed-by-ca',
  keyMismatch: 'key-mismatch',
  missingSanContour: 'missing-san-contour',
  expired: 'expired',
  notYetValid: 'not-yet-valid',
  renewalDue: 'renewal-due',
  /** The leaf has an extendedKeyUsage extension that lacks serverAuth (Contour) or clientAuth (Envoy). */
  wrongUsage: 'wrong-usage',
} as const
export type CheckReason = (typeof CheckReasons)[keyof typeof CheckReasons]

/** The outcome of a check; other checks (the serving certificate's) widen the reasons. */
export type CheckResult<Reason extends string = CheckReason> =
  | { readonly ok: true; readonly notAfter: Date; readonly renewAt: Date; readonly fingerprint: string }
  | { readonly ok: false; readonly reason: Reason; readonly detail: string }

/** Codes of errors thrown by the certificate core (bad options are a programmer or configuration error). */
export const CertErrorCodes = {
  /** An IssueOptions or CheckOptions value is out of range; the message names the option. */
  ERR_CERT_OPTIONS: 'ERR_CERT_OPTIONS',
  /** A PEM certificate given to a helper that needs it parsed could not be parsed. */
  ERR_CERT_MALFORMED: 'ERR_CERT_MALFORMED',
} as const
export type CertErrorCode = (typeof CertErrorCodes)[keyof typeof CertErrorCodes]
