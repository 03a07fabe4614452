// Errors that cross a boundary carry a stable code; tests and users match the code, never the wording.
export const ErrorCodes = {
  ERR_CONFIG: 'ERR_CONFIG',
} as const
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes]

export class InjectorError extends Error {
  readonly code: string
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = 'InjectorError'
  }
}
