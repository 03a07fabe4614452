// Every way `bootstrap-tls` can end, as a named exit code, and the stable error code behind it.
// The kubelet restarts a failed init container whatever the code; the codes are for people and
// scripts reading `kubectl describe pod` (lastState.terminated.exitCode).

export const ExitCodes = {
  OK: 0,
  /** Anything not listed below: an I/O error, an unexpected API answer (e.g. 422). */
  FAILURE: 1,
  /** Unknown flag, missing or contradictory flags. */
  USAGE: 2,
  /** The files (or another replica's half-written set) were not ready within --wait-timeout. */
  WAIT_TIMEOUT: 3,
  /** The API answered 401 or 403: the message names the verb, resource, namespace and account. */
  FORBIDDEN: 4,
  /** A Secret this product did not create would have to be overwritten. */
  FOREIGN_SECRET: 5,
  /** The API stayed unreachable (connection errors, 5xx, 429) until --wait-timeout. */
  API_UNAVAILABLE: 6,
  /** Bad configuration: no namespace, no credentials, unreadable kubeconfig, bad values. */
  CONFIG: 7,
  /** --out-dir: a file of the layout exists already and --force was not given. */
  OUT_DIR_EXISTS: 8,
  /** --probe: the mounted files do not hold a valid set (yet). */
  NOT_READY: 9,
  /** SIGTERM or SIGINT arrived while waiting. */
  INTERRUPTED: 130,
} as const
export type ExitCode = (typeof ExitCodes)[keyof typeof ExitCodes]

/** Stable codes of the errors `bootstrap-tls` reports; tests match these, never the wording. */
export const BootstrapErrorCodes = {
  ERR_USAGE: 'ERR_USAGE',
  ERR_CONFIG: 'ERR_CONFIG',
  ERR_WAIT_TIMEOUT: 'ERR_WAIT_TIMEOUT',
  ERR_FORBIDDEN: 'ERR_FORBIDDEN',
  ERR_UNAUTHORIZED: 'ERR_UNAUTHORIZED',
  ERR_FOREIGN_SECRET: 'ERR_FOREIGN_SECRET',
  ERR_API_UNAVAILABLE: 'ERR_API_UNAVAILABLE',
  ERR_API: 'ERR_API',
  ERR_OUT_DIR_EXISTS: 'ERR_OUT_DIR_EXISTS',
  ERR_NOT_READY: 'ERR_NOT_READY',
  ERR_INTERRUPTED: 'ERR_INTERRUPTED',
} as const
export type BootstrapErrorCode = (typeof BootstrapErrorCodes)[keyof typeof BootstrapErrorCodes]

const EXIT_BY_ERROR: Readonly<Record<string, ExitCode>> = {
  ERR_USAGE: ExitCodes.USAGE,
  ERR_CONFIG: ExitCodes.CONFIG,
  // The certificate core rejects out-of-range issue options (--key-bits, --extra-sans...).
  ERR_CERT_OPTIONS: ExitCodes.CONFIG,
  ERR_WAIT_TIMEOUT: ExitCodes.WAIT_TIMEOUT,
  ERR_FORBIDDEN: ExitCodes.FORBIDDEN,
  ERR_UNAUTHORIZED: ExitCodes.FORBIDDEN,
  ERR_FOREIGN_SECRET: ExitCodes.FOREIGN_SECRET,
  ERR_API_UNAVAILABLE: ExitCodes.API_UNAVAILABLE,
  ERR_OUT_DIR_EXISTS: ExitCodes.OUT_DIR_EXISTS,
  ERR_NOT_READY: ExitCodes.NOT_READY,
  ERR_INTERRUPTED: ExitCodes.INTERRUPTED,
}

export function exitCodeFor(errorCode: string | undefined): ExitCode {
  return (errorCode !== undefined ? EXIT_BY_ERROR[errorCode] : undefined) ?? ExitCodes.FAILURE
}
