// Is a stored set (or one mounted leaf pair) usable as it is? Pure and synchronous, native
// crypto only: it runs at every Contour and Envoy pod start, so it must not load node-forge.
import { InjectorError } from '../../errors.ts'
import {
  checkLeaf,
  checkValidity,
  isFailure,
  parseCaBundle,
  parseCertificate,
  parsePrivateKey,
  type LeafUsage,
} from './check-parts.ts'
import { fingerprintDers } from './fingerprint.ts'
import { CertErrorCodes, type CertificateSet, type CheckOptions, type CheckResult } from './types.ts'

export const DEFAULT_RENEW_FRACTION = 1 / 3

const LEAF_NAMES: Record<LeafUsage, string> = { server: 'Contour', client: 'Envoy' }

/**
 * Checks, in this order: every piece parses (malformed); every CA of the bundle says CA:true
 * (ca-not-ca); each
 * leaf is issued by the CA (not-signed-by-ca), matches its key (key-mismatch), has the right
 * extended key usage (wrong-usage) and, for Contour, the DNS SAN `contour`
 * (missing-san-contour), both against the bundle's first CA; then time over that CA and the
 * leaves (not-yet-valid, expired, renewal-due). On success `fingerprint` is fingerprintSet(set).
 */
export function checkCertificateSet(set: CertificateSet, opts: CheckOptions = {}): CheckResult {
  const { now, renewFraction } = resolveCheckOptions(opts)
  const bundle = parseCaBundle(set.caCert, 'CA certificate')
  if (isFailure(bundle)) return bundle
  const ca = bundle.signing
  const contourCert = parseCertificate(set.contourCert, 'Contour certificate')
  if (isFailure(contourCert)) return contourCert
  const contourKey = parsePrivateKey(set.contourKey, 'Contour private key')
  if (isFailure(contourKey)) return contourKey
  const envoyCert = parseCertificate(set.envoyCert, 'Envoy certificate')
  if (isFailure(envoyCert)) return envoyCert
  const envoyKey = parsePrivateKey(set.envoyKey, 'Envoy private key')
  if (isFailure(envoyKey)) return envoyKey

  const structural =
    checkLeaf(ca, { cert: contourCert, key: contourKey, usage: 'server', name: LEAF_NAMES.server }) ??
    checkLeaf(ca, { cert: envoyCert, key: envoyKey, usage: 'client', name: LEAF_NAMES.client })
  if (structural) return structural

  const certs = [
    { cert: ca, label: 'CA certificate' },
    { cert: contourCert, label: 'Contour certificate' },
    { cert: envoyCert, label: 'Envoy certificate' },
  ]
  const validity = checkValidity(certs, now, renewFraction)
  if (isFailure(validity)) return validity
  return { ok: true, ...validity, fingerprint: fingerprintDers([...bundle.all, contourCert, envoyCert].map((cert) => cert.raw)) }
}

/**
 * The same checks for one leaf, its key and the CA, as mounted in a pod. `usage: 'server'` is
 * the Contour leaf (needs serverAuth and SAN `contour`), `'client'` the Envoy leaf. On success
 * `fingerprint` is the hex SHA-256 over the DER of every CA of the bundle and then the leaf.
 */
export function checkLeafPair(
  input: { caCert: string; cert: string; key: string },
  opts: CheckOptions & { usage: LeafUsage },
): CheckResult {
  const { now, renewFraction } = resolveCheckOptions(opts)
  const name = LEAF_NAMES[opts.usage]
  const bundle = parseCaBundle(input.caCert, 'CA certificate')
  if (isFailure(bundle)) return bundle
  const ca = bundle.signing
  const cert = parseCertificate(input.cert, `${name} certificate`)
  if (isFailure(cert)) return cert
  const key = parsePrivateKey(input.key, `${name} private key`)
  if (isFailure(key)) return key

  const structural = checkLeaf(ca, { cert, key, usage: opts.usage, name })
  if (structural) return structural

  const certs = [
    { cert: ca, label: 'CA certificate' },
    { cert, label: `${name} certificate` },
  ]
  const validity = checkValidity(certs, now, renewFraction)
  if (isFailure(validity)) return validity
  return { ok: true, ...validity, fingerprint: fingerprintDers([...bundle.all.map((c) => c.raw), cert.raw]) }
}

function resolveCheckOptions(opts: CheckOptions): { now: Date; renewFraction: number } {
  const now = opts.now ?? new Date()
  const renewFraction = opts.renewFraction ?? DEFAULT_RENEW_FRACTION
  if (!(now instanceof Date) || Number.isNaN(now.getTime())) {
    throw new InjectorError(CertErrorCodes.ERR_CERT_OPTIONS, 'check option now must be a valid Date')
  }
  if (!Number.isFinite(renewFraction) || renewFraction < 0 || renewFraction >= 1) {
    throw new InjectorError(CertErrorCodes.ERR_CERT_OPTIONS, 'check option renewFraction must be in [0, 1)')
  }
  return { now, renewFraction }
}
