// Builds the fastify app without listening: tests use app.inject(), main.ts adds the socket.
import Fastify, { LogController, type FastifyError, type FastifyHttpsOptions, type FastifyInstance, type FastifyServerOptions } from 'fastify'
import type { Server as HttpsServer } from 'node:https'
import type { SecureContextOptions } from 'node:tls'
import type { InjectionSettings } from '../core/injection/types.ts'
import { createMetrics, type WebhookMetrics } from './metrics.ts'
import { admitReview, describeTarget, parseAdmissionReview, reviewUid, serializeResponse } from './review.ts'
import { createAdmissionMemo, type AdmissionMemo } from './admission-memo.ts'
import { HttpErrorCodes, toHttpError } from './http-errors.ts'

/** The apiserver caps a request at 3 MiB; a review wraps one object, so 4 MiB admits every real review. */
export const BODY_LIMIT_BYTES = 4 * 1024 * 1024
/**
 * Reviews larger than this are never remembered by the admission memo: it keeps a copy of each
 * remembered pod's engine inputs, and a real Contour or Envoy pod review is 5-20 KiB.
 */
export const MEMO_MAX_BODY_BYTES = 64 * 1024
/** Above the apiserver's 90 s idle timeout, so the server never closes a connection the client is about to reuse. */
export const KEEP_ALIVE_TIMEOUT_MS = 100_000

export interface ServingState {
  /** True once a serving certificate has been loaded. */
  certLoaded: boolean
  /** True after SIGTERM: readiness fails while requests are still served. */
  draining: boolean
}

export interface BuildOptions {
  readonly injection: InjectionSettings
  readonly https?: SecureContextOptions
  readonly logger?: FastifyServerOptions['logger'] | false
  readonly loggerInstance?: FastifyServerOptions['loggerInstance']
  readonly state?: ServingState
  readonly metrics?: WebhookMetrics
}

export function buildApp(opts: BuildOptions): { app: FastifyInstance; state: ServingState; metrics: WebhookMetrics; memo: AdmissionMemo } {
  const state = opts.state ?? { certLoaded: opts.https !== undefined, draining: false }
  const metrics = opts.metrics ?? createMetrics({ processMetrics: true })
  const base: FastifyServerOptions = {
    bodyLimit: BODY_LIMIT_BYTES,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    forceCloseConnections: 'idle',
    // One log line per admission from the route, not fastify's two per request.
    logController: new LogController({ disableRequestLogging: true }),
    // No child logger per request (it costs more than the injection): lines that need request
    // context get a child with the review's uid, namespace and name when they are written.
    childLoggerFactory: (logger) => logger,
    return503OnClosing: true,
    // Reviews are parsed with plain JSON.parse, which makes a `__proto__` or `constructor` key an
    // ordinary own property. The pod is only ever read, never merged into another object, so those
    // keys are inert here; refusing them (fastify's default) would fail the apiserver's request
    // for a pod that merely carries such an annotation key, and scanning every body for them
    // costs more than the injection.
    onProtoPoisoning: 'ignore',
    onConstructorPoisoning: 'ignore',
  }
  if (opts.loggerInstance !== undefined) base.loggerInstance = opts.loggerInstance
  else base.logger = opts.logger ?? false
  // One app type for both: tests use plain HTTP through inject(), main.ts serves HTTPS.
  const app = (opts.https === undefined
    ? Fastify(base)
    : Fastify({ ...base, https: opts.https } as FastifyHttpsOptions<HttpsServer>)) as unknown as FastifyInstance

  // Reviews are JSON; fastify's default text/plain parser would turn a 415 into a 400.
  app.removeContentTypeParser('text/plain')

  app.setErrorHandler((err: FastifyError, request, reply) => {
    const httpError = toHttpError(err)
    metrics.errors.inc({ code: httpError.code })
    const uid = reviewUid(request.body)
    const log = uid === undefined ? request.log : request.log.child({ uid })
    if (httpError.statusCode >= 500) log.error({ err, code: httpError.code }, 'request failed')
    else log.warn({ code: httpError.code, statusCode: httpError.statusCode }, httpError.message)
    void reply.code(httpError.statusCode).send(httpError)
  })

  app.setNotFoundHandler((request, reply) => {
    metrics.errors.inc({ code: HttpErrorCodes.notFound })
    void reply.code(404).send({ statusCode: 404, code: HttpErrorCodes.notFound, message: `no route ${request.method} ${request.url}` })
  })

  const memo = createAdmissionMemo(opts.injection)
  app.post('/mutate', async (request, reply) => {
    const started = process.hrtime.bigint()
    const review = parseAdmissionReview(request.body)
    const length = Number(request.headers['content-length'])
    const { body, decision } = admitReview(review, opts.injection, length <= MEMO_MAX_BODY_BYTES ? memo : undefined)
    const injected = decision.outcome === 'injected' || decision.outcome === 'taken-over'
    const reason = injected ? '' : decision.reason
    const role = injected ? decision.role : ''
    metrics.admissions.inc(decision.outcome, reason, role)
    const level = injected ? 'info' : body.response.warnings !== undefined ? 'warn' : 'debug'
    // A child logger per request costs more than the injection itself: build it only when it logs.
    // (fastify's no-op logger, used when logging is off, has no isLevelEnabled.)
    if ((request.log as { isLevelEnabled?: (level: string) => boolean }).isLevelEnabled?.(level) === true) {
      const target = describeTarget(review.request)
      const log = request.log.child({ uid: review.request.uid, namespace: target.namespace, name: target.name, operation: review.request.operation })
      if (decision.outcome === 'taken-over') log.info({ role, replaced: decision.replaced }, 'injected, existing TLS taken over')
      else if (injected) log.info({ role }, 'injected')
      else if (level === 'warn') log.warn({ reason, warnings: body.response.warnings }, 'not injected')
      else log.debug({ outcome: decision.outcome, reason }, 'not injected')
    }
    metrics.latency.observe(decision.outcome, Number(process.hrtime.bigint() - started) / 1e9)
    return reply.type('application/json; charset=utf-8').send(serializeResponse(body))
  })

  app.get('/healthz', async () => ({ status: 'ok' }))
  app.get('/readyz', async (_request, reply) => {
    if (!state.certLoaded) return reply.code(503).send({ status: 'not ready', reason: 'serving certificate not loaded' })
    if (state.draining) return reply.code(503).send({ status: 'not ready', reason: 'draining' })
    return { status: 'ready' }
  })
  app.get('/metrics', async (_request, reply) => {
    const text = await metrics.registry.metrics()
    return reply.type(metrics.registry.contentType).send(text)
  })
  return { app, state, metrics, memo }
}

