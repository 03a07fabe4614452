// Is the stored serving certificate usable as it is? The same checks as the Contour set
// (parses, CA:true, signed by the CA, key matches, serverAuth, time and renewal window) plus
// every DNS name and IP the webhook is reached by. Native crypto only; details quote no PEM.
import { X509Certificate } from 'node:crypto'
import { checkCa, checkValidity, fail, isFailure, parseCertificate, parsePrivateKey } from '../core/certs/check-parts.ts'
import { DEFAULT_RENEW_FRACTION } from '../core/certs/check-set.ts'
import { fingerprintDers } from '../core/certs/fingerprint.ts'
import { CheckReasons } from '../core/certs/types.ts'
import type { ServingCheckResult, ServingIdentity } from './types.ts'

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1'
const ANY_EKU = '2.5.29.37.0'

export interface ServingCheckOptions {
  readonly identity: ServingIdentity
  readonly now: Date
  readonly renewFraction?: number
}

export function checkServingCert(input: { caCert: string; cert: string; key: string }, opts: ServingCheckOptions): ServingCheckResult {
  const ca = parseCertificate(input.caCert, 'serving CA certificate')
  if (isFailure(ca)) return ca
  const cert = parseCertificate(input.cert, 'serving certificate')
  if (isFailure(cert)) return cert
  const key = parsePrivateKey(input.key, 'serving private key')
  if (isFailure(key)) return key
  const caProblem = checkCa(ca, 'serving CA certificate')
  if (caProblem) return caProblem
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) return fail(CheckReasons.notSignedByCa, 'the serving certificate is not signed by the serving CA certificate')
  if (!cert.checkPrivateKey(key)) return fail(CheckReasons.keyMismatch, 'the serving private key does not belong to the serving certificate')
  const eku = cert.keyUsage ?? []
  if (eku.length > 0 && !eku.includes(SERVER_AUTH) && !eku.includes(ANY_EKU)) {
    return fail(CheckReasons.wrongUsage, 'the serving certificate\'s extended key usage lacks serverAuth')
  }
  const missing = missingNames(cert, opts.identity)
  if (missing !== undefined) return { ok: false, reason: 'missing-name', detail: `the serving certificate does not cover ${missing}` }
  const validity = checkValidity(
    [{ cert: ca, label: 'serving CA certificate' }, { cert, label: 'serving certificate' }],
    opts.now,
    opts.renewFraction ?? DEFAULT_RENEW_FRACTION,
  )
  if (isFailure(validity)) return validity
  return { ok: true, ...validity, fingerprint: fingerprintDers([ca.raw, cert.raw]) }
}

function missingNames(cert: X509Certificate, identity: ServingIdentity): string | undefined {
  for (const name of identity.dnsNames) {
    if (cert.checkHost(name, { subject: 'never', wildcards: false }) === undefined) return `DNS name "${name}"`
  }
  for (const ip of identity.ipAddresses) {
    if (cert.checkIP(ip) === undefined) return `IP address ${ip}`
  }
  return undefined
}
