// Issues a fresh CA and the webhook's serving certificate, together. As for every CA of this
// product, the CA's private key is a local KeyObject that is never exported: once the serving
// certificate is signed it is unreachable, so renewal always means a new CA as well.
import { isIP } from 'node:net'
import forge from 'node-forge'
import { buildCertificate, ExtKeyUsages, generateRsaKeyPair } from '../core/certs/build-cert.ts'
import { BACKDATE_MS, CLUSTER_DOMAIN, DEFAULT_KEY_BITS } from '../core/certs/issue-options.ts'
import { InjectorError } from '../errors.ts'
import { ServingCertErrorCodes, type ServingIdentity } from './types.ts'

export const SERVING_CA_COMMON_NAME = 'contour-tls-injector webhook CA'
const DAY_MS = 24 * 60 * 60 * 1000
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/

export interface ServingIssueOptions {
  readonly identity: ServingIdentity
  readonly lifetimeMs: number
  readonly keyBits?: number
  readonly now: Date
}

export interface IssuedServingCert {
  readonly caCert: string
  readonly cert: string
  readonly key: string
}

/** `<svc>`, `<svc>.<ns>`, `<svc>.<ns>.svc`, `<svc>.<ns>.svc.cluster.local`, then the extra names. */
export function servingIdentity(serviceName: string, namespace: string, extraSans: readonly string[] = []): ServingIdentity {
  for (const [what, value] of [['service name', serviceName], ['namespace', namespace]] as const) {
    if (!DNS1123_LABEL.test(value)) throw new InjectorError(ServingCertErrorCodes.ERR_CONFIG, `the ${what} "${value}" is not a DNS-1123 label`)
  }
  const dnsNames = [serviceName, `${serviceName}.${namespace}`, `${serviceName}.${namespace}.svc`, `${serviceName}.${namespace}.svc.${CLUSTER_DOMAIN}`]
  const ipAddresses: string[] = []
  for (const raw of extraSans) {
    const san = raw.trim().toLowerCase()
    if (san === '') continue
    if (isIP(san) !== 0) ipAddresses.push(san)
    else if (san.length <= 253 && san.split('.').every((label) => DNS1123_LABEL.test(label))) dnsNames.push(san)
    else throw new InjectorError(ServingCertErrorCodes.ERR_CONFIG, `"${raw}" is neither a DNS name nor an IP address`)
  }
  return { dnsNames: [...new Set(dnsNames)], ipAddresses: [...new Set(ipAddresses)] }
}

export async function issueServingCert(opts: ServingIssueOptions): Promise<IssuedServingCert> {
  const { identity, lifetimeMs, now } = opts
  if (!Number.isFinite(lifetimeMs) || lifetimeMs < 10_000 || lifetimeMs > 3650 * DAY_MS) {
    throw new InjectorError(ServingCertErrorCodes.ERR_CONFIG, 'the serving certificate lifetime must be between 10 seconds and 10 years')
  }
  if (identity.dnsNames.length === 0) throw new InjectorError(ServingCertErrorCodes.ERR_CONFIG, 'the serving certificate needs at least one DNS name')
  // Back-dated for clock skew, but never by more than a tenth of a (test-sized) lifetime.
  const notBefore = new Date(now.getTime() - Math.min(BACKDATE_MS, Math.floor(lifetimeMs / 10)))
  const notAfter = new Date(now.getTime() + lifetimeMs)
  const bits = opts.keyBits ?? DEFAULT_KEY_BITS
  const [caKeys, leafKeys] = await Promise.all([generateRsaKeyPair(bits), generateRsaKeyPair(bits)])
  const ca = buildCertificate(
    { commonName: SERVING_CA_COMMON_NAME, isCa: true, dnsNames: [], ipAddresses: [], extKeyUsage: [], notBefore, notAfter },
    caKeys.publicKey,
    caKeys.privateKey,
  )
  const leaf = buildCertificate(
    {
      commonName: identity.dnsNames[2] ?? identity.dnsNames[0] ?? 'contour-tls-injector',
      isCa: false,
      dnsNames: identity.dnsNames,
      ipAddresses: identity.ipAddresses,
      extKeyUsage: [ExtKeyUsages.serverAuth],
      notBefore,
      notAfter,
    },
    leafKeys.publicKey,
    caKeys.privateKey,
    ca,
  )
  return Object.freeze({
    caCert: forge.pki.certificateToPem(ca),
    cert: forge.pki.certificateToPem(leaf),
    key: leafKeys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  })
}

export function lifetimeDaysToMs(days: number): number {
  return Math.round(days * DAY_MS)
}
