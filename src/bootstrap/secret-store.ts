// What ensure-secrets needs from Kubernetes, and the one error type an implementation throws.
// src/kube/https-secret-store.ts implements it over node:https (client-node only for rare kubeconfig shapes); tests may use others.
import { InjectorError } from '../errors.ts'
import { BootstrapErrorCodes } from './exit-codes.ts'
import type { SecretWrite, StoredSecret } from './secret-model.ts'

export interface SecretStore {
  /** undefined when the Secret does not exist (404). */
  get(name: string): Promise<StoredSecret | undefined>
  /** Create-if-absent: throws kind 'already-exists' on 409. */
  create(secret: SecretWrite): Promise<StoredSecret>
  /** Guarded replace (PUT with resourceVersion): throws 'conflict' on 409 and 'not-found' on 404. */
  replace(secret: SecretWrite, resourceVersion: string): Promise<StoredSecret>
  /** A Kubernetes Event about a Secret (each step of the lifecycle); best effort, never throws. */
  recordEvent?(event: SecretEvent): Promise<void>
}

export interface SecretEvent {
  readonly secretName: string
  readonly type: 'Normal' | 'Warning'
  /** CamelCase, stable: SetCreated, SetReplaced, TrustAdded, LeavesSwitched, TrustDropped, SetRevoked. */
  readonly reason: string
  readonly message: string
}

export type StoreErrorKind =
  | 'already-exists'
  | 'conflict'
  | 'not-found'
  | 'forbidden'
  | 'unauthorized'
  /** Connection refused or reset, timeouts, 5xx, 429: worth retrying. */
  | 'unavailable'
  /** Anything else (400, 422...): retrying will not help. */
  | 'failed'

const CODE_BY_KIND: Readonly<Record<StoreErrorKind, string>> = {
  'already-exists': BootstrapErrorCodes.ERR_API,
  conflict: BootstrapErrorCodes.ERR_API,
  'not-found': BootstrapErrorCodes.ERR_API,
  forbidden: BootstrapErrorCodes.ERR_FORBIDDEN,
  unauthorized: BootstrapErrorCodes.ERR_UNAUTHORIZED,
  unavailable: BootstrapErrorCodes.ERR_API_UNAVAILABLE,
  failed: BootstrapErrorCodes.ERR_API,
}

/** The message must name what was attempted and must never quote Secret data. */
export class SecretStoreError extends InjectorError {
  readonly kind: StoreErrorKind
  readonly status: number | undefined
  /** Server-suggested delay (Retry-After on 429/503), in ms. */
  readonly retryAfterMs: number | undefined
  constructor(kind: StoreErrorKind, message: string, options: { status?: number; retryAfterMs?: number; cause?: unknown } = {}) {
    super(CODE_BY_KIND[kind], message, { cause: options.cause })
    this.name = 'SecretStoreError'
    this.kind = kind
    this.status = options.status
    this.retryAfterMs = options.retryAfterMs
  }
}

export function isStoreError(err: unknown, ...kinds: StoreErrorKind[]): err is SecretStoreError {
  return err instanceof SecretStoreError && (kinds.length === 0 || kinds.includes(err.kind))
}
