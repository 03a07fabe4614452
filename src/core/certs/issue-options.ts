// Validates IssueOptions once and works out the Contour leaf's names. Bad options throw
// ERR_CERT_OPTIONS with a message naming the option (never any key material: there is none yet).
import { isIP } from 'node:net'
import { InjectorError } from '../../errors.ts'
import { CertErrorCodes, type IssueOptions } from './types.ts'

/** Envoy's bootstrap pins the xDS server name to exactly this, whatever the Service is called. */
export const PINNED_SERVER_NAME = 'contour'
export const DEFAULT_SERVICE_NAME = 'contour'
export const DEFAULT_LIFETIME_DAYS = 365
export const DEFAULT_KEY_BITS = 2048
export const MIN_KEY_BITS = 2048
export const MAX_KEY_BITS = 16384
/** notBefore is back-dated by this much to absorb clock skew between nodes. */
export const BACKDATE_MS = 5 * 60 * 1000
export const CLUSTER_DOMAIN = 'cluster.local'

const DAY_MS = 24 * 60 * 60 * 1000
// DNS-1123 label (namespaces) and DNS-1035 label (Service names), as Kubernetes validates them.
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/
const DNS1035_LABEL = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/

export interface ResolvedIssueOptions {
  readonly dnsNames: readonly string[]
  readonly ipAddresses: readonly string[]
  readonly notBefore: Date
  readonly notAfter: Date
  readonly keyBits: number
}

export function resolveIssueOptions(opts: IssueOptions): ResolvedIssueOptions {
  const { namespace, serviceName = DEFAULT_SERVICE_NAME } = opts
  const { lifetimeDays = DEFAULT_LIFETIME_DAYS, keyBits = DEFAULT_KEY_BITS, extraSans = [] } = opts
  const now = opts.now ?? new Date()
  if (typeof namespace !== 'string' || !DNS1123_LABEL.test(namespace)) fail('namespace', 'a DNS-1123 label')
  if (typeof serviceName !== 'string' || !DNS1035_LABEL.test(serviceName)) fail('serviceName', 'a DNS-1035 label')
  if (!Number.isFinite(lifetimeDays) || lifetimeDays <= 0) fail('lifetimeDays', 'a positive number')
  if (!Number.isInteger(keyBits) || keyBits < MIN_KEY_BITS || keyBits > MAX_KEY_BITS) {
    fail('keyBits', `an integer from ${MIN_KEY_BITS} to ${MAX_KEY_BITS}`)
  }
  if (!(now instanceof Date) || Number.isNaN(now.getTime())) fail('now', 'a valid Date')

  const dnsNames = [
    PINNED_SERVER_NAME,
    serviceName,
    `${serviceName}.${namespace}`,
    `${serviceName}.${namespace}.svc`,
    `${serviceName}.${namespace}.svc.${CLUSTER_DOMAIN}`,
  ]
  const ipAddresses: string[] = []
  for (const san of extraSans) {
    if (typeof san === 'string' && isIP(san) !== 0) ipAddresses.push(san)
    else if (typeof san === 'string' && isDnsName(san.toLowerCase())) dnsNames.push(san.toLowerCase())
    else fail('extraSans', `DNS names or IP addresses (got ${JSON.stringify(san)})`)
  }
  return {
    dnsNames: [...new Set(dnsNames)],
    ipAddresses: [...new Set(ipAddresses)],
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(now.getTime() + lifetimeDays * DAY_MS),
    keyBits,
  }
}

/** A DNS name of DNS-1123 labels, at most 253 characters; a leading `*.` wildcard is allowed. */
function isDnsName(name: string): boolean {
  const bare = name.startsWith('*.') ? name.slice(2) : name
  return name.length <= 253 && bare.split('.').every((label) => DNS1123_LABEL.test(label))
}

function fail(option: string, expected: string): never {
  throw new InjectorError(CertErrorCodes.ERR_CERT_OPTIONS, `certificate option ${option} must be ${expected}`)
}
