// Transport errors become HTTP errors with a stable code; admission decisions never do.
import type { FastifyError } from 'fastify'

export const HttpErrorCodes = {
  malformedReview: 'ERR_MALFORMED_REVIEW',
  unsupportedMediaType: 'ERR_UNSUPPORTED_MEDIA_TYPE',
  bodyTooLarge: 'ERR_BODY_TOO_LARGE',
  notFound: 'ERR_NOT_FOUND',
  internal: 'ERR_INTERNAL',
} as const

export interface HttpError {
  readonly statusCode: number
  readonly code: string
  readonly message: string
}

// fastify's own codes for what a client got wrong, mapped to ours.
const FASTIFY_CODES: Record<string, { statusCode: number; code: string }> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { statusCode: 415, code: HttpErrorCodes.unsupportedMediaType },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { statusCode: 400, code: HttpErrorCodes.malformedReview },
  FST_ERR_CTP_BODY_TOO_LARGE: { statusCode: 413, code: HttpErrorCodes.bodyTooLarge },
  FST_ERR_CTP_EMPTY_JSON_BODY: { statusCode: 400, code: HttpErrorCodes.malformedReview },
  FST_ERR_CTP_INVALID_JSON_BODY: { statusCode: 400, code: HttpErrorCodes.malformedReview },
}

export function toHttpError(err: FastifyError & { code?: string }): HttpError {
  const known = err.code === undefined ? undefined : FASTIFY_CODES[err.code]
  if (known !== undefined) return { ...known, message: err.message }
  if (err.code === HttpErrorCodes.malformedReview) return { statusCode: 400, code: err.code, message: err.message }
  // JSON syntax errors from the body parser surface as SyntaxError with statusCode 400.
  if (err.statusCode === 400 || err instanceof SyntaxError) return { statusCode: 400, code: HttpErrorCodes.malformedReview, message: `malformed JSON: ${err.message}` }
  if (err.statusCode === 413) return { statusCode: 413, code: HttpErrorCodes.bodyTooLarge, message: err.message }
  if (err.statusCode === 415) return { statusCode: 415, code: HttpErrorCodes.unsupportedMediaType, message: err.message }
  return { statusCode: 500, code: HttpErrorCodes.internal, message: 'internal error' }
}
