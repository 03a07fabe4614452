// The contract of the webhook's own serving certificate in `--serving-cert-mode=self`: names,
// Secret layout and error codes. The chart's templates and README use the same values.
import type { CheckReason, CheckResult } from '../core/certs/types.ts'

/** Server-side apply field manager for the caBundle fields: Helm, Argo CD and Flux own the rest. */
export const FIELD_MANAGER = 'contour-tls-injector'
export const DEFAULT_SERVING_SECRET = 'contour-tls-injector-serving-cert'
export const DEFAULT_SERVICE_NAME = 'contour-tls-injector'
export const DEFAULT_WEBHOOK_CONFIGURATION = 'contour-tls-injector'
export const DEFAULT_SERVING_LIFETIME_DAYS = 365

/**
 * The serving Secret (type kubernetes.io/tls). `ca.crt` is the CA that signed `tls.crt`;
 * `ca-previous.crt` the CA it replaced, kept in the caBundle until it expires so replicas that
 * still serve the previous certificate stay trusted during a renewal. No CA key, ever.
 */
export const ServingSecretKeys = {
  cert: 'tls.crt',
  key: 'tls.key',
  ca: 'ca.crt',
  previousCa: 'ca-previous.crt',
} as const

/** What the serving Secret holds, as PEM text. */
export interface ServingMaterial {
  readonly caCert: string
  readonly cert: string
  readonly key: string
  /** Zero or more earlier CA certificates (PEM, concatenated); may be ''. */
  readonly previousCaCerts: string
}

/** The names the serving certificate must carry. */
export interface ServingIdentity {
  readonly dnsNames: readonly string[]
  readonly ipAddresses: readonly string[]
}

export type ServingCheckReason = CheckReason | 'missing-name'

export type ServingCheckResult = CheckResult<ServingCheckReason>

export const ServingCertErrorCodes = {
  /** A flag or option of the self mode is invalid. */
  ERR_CONFIG: 'ERR_CONFIG',
  /** The Secret exists but was not created by contour-tls-injector: it is never overwritten. */
  ERR_FOREIGN_SECRET: 'ERR_FOREIGN_SECRET',
  /** The MutatingWebhookConfiguration named by --webhook-configuration-name does not exist. */
  ERR_WEBHOOK_CONFIGURATION_NOT_FOUND: 'ERR_WEBHOOK_CONFIGURATION_NOT_FOUND',
  /** The first certificate could not be ensured in time at start-up (the message says why). */
  ERR_SERVING_CERT: 'ERR_SERVING_CERT',
} as const
