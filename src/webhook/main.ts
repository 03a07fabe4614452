// `contour-tls-injector webhook`: configuration, certificate loading and reloading, listen, drain.
import pino from 'pino'
import type { FastifyInstance } from 'fastify'
import type { Server as TlsServer } from 'node:tls'
import type { CliIO } from '../cli/io.ts'
import { InjectorError } from '../errors.ts'
import { buildApp, type ServingState } from '../server/build-app.ts'
import { loadPair, watchPair, type LoadedPair } from '../server/tls-reloader.ts'
import { parseWebhookConfig, webhookHelp, type WebhookConfig } from './config.ts'
import type { SelfModeTuning } from '../serving-cert/start-self.ts'

/** Seams for tests; production passes none. */
export interface WebhookDeps {
  /** Timings of --serving-cert-mode=self (tests renew in seconds). */
  readonly servingCert?: SelfModeTuning
}

export async function runWebhook(args: string[], io: CliIO, deps: WebhookDeps = {}): Promise<number> {
  let config: WebhookConfig
  try {
    config = parseWebhookConfig(args, io.env)
  } catch (err) {
    if (args.includes('--help')) { io.stdout.write(webhookHelp); return 0 }
    io.stderr.write(`contour-tls-injector webhook: ${(err as Error).message} (${(err as InjectorError).code ?? 'ERR_CONFIG'})\n`)
    return 2
  }
  if (config.help) { io.stdout.write(webhookHelp); return 0 }

  const logger = pino({ level: config.logLevel, base: { component: 'webhook' } })
  if (config.tls.mode === 'self') return serveSelfMode(config, io, logger, deps)
  let certFile: string
  let keyFile: string
  let pair: LoadedPair
  try {
    if (config.tls.mode === 'dev') {
      // Lazy: node-forge (certificate building) is needed only in --dev mode.
      const { writeDevCertificate } = await import('./dev-cert.ts')
      const dev = await writeDevCertificate(config.tls.dir)
      certFile = dev.certFile
      keyFile = dev.keyFile
      io.stderr.write(devBanner(config, dev.caFile))
    } else {
      certFile = config.tls.certFile
      keyFile = config.tls.keyFile
    }
    pair = await loadPair(certFile, keyFile)
  } catch (err) {
    io.stderr.write(`contour-tls-injector webhook: cannot load the serving certificate: ${(err as Error).message} (ERR_SERVING_CERT)\n`)
    return 1
  }

  const { app, state, metrics } = buildApp({ injection: config.injection, https: pair, loggerInstance: logger })
  const reloader = watchPair(pair, {
    certFile,
    keyFile,
    onReload: (next) => {
      (app.server as unknown as TlsServer).setSecureContext({ cert: next.cert, key: next.key })
      metrics.certReloads.inc({ result: 'ok' })
      logger.info('serving certificate reloaded')
    },
    onError: (err) => {
      metrics.certReloads.inc({ result: 'error' })
      logger.warn({ err: err.message }, 'serving certificate not reloaded; keeping the current one')
    },
  })
  app.addHook('onClose', async () => reloader.close())
  return listenAndServe(app, state, config, io, logger)
}

/**
 * `--serving-cert-mode=self`: the certificate comes from the Secret this process keeps (see
 * src/serving-cert/); its CA is in the caBundle before the server listens, and renewals are
 * applied in place with setSecureContext.
 */
async function serveSelfMode(config: WebhookConfig, io: CliIO, logger: pino.Logger, deps: WebhookDeps): Promise<number> {
  if (config.tls.mode !== 'self') throw new Error('serveSelfMode needs --serving-cert-mode=self')
  const log = logger.child({ module: 'serving-cert' })
  // Bound once the app exists; renewals cannot arrive earlier (the first check is a timer away).
  let applyPair: (pair: LoadedPair) => void = () => undefined
  let started
  try {
    const { startSelfServingCert } = await import('../serving-cert/start-self.ts')
    started = await startSelfServingCert(config.tls, {
      env: io.env,
      log: { info: (line) => log.info(line), warn: (line) => log.warn(line) },
      onReload: (pair) => applyPair(pair),
      signal: io.stopSignal,
      tuning: deps.servingCert,
    })
  } catch (err) {
    const code = (err as InjectorError).code ?? 'ERR_SERVING_CERT'
    io.stderr.write(`contour-tls-injector webhook: ${(err as Error).message} (${code})\n`)
    return 1
  }
  const { handle } = started
  const { app, state, metrics } = buildApp({ injection: config.injection, https: handle.pair, loggerInstance: logger })
  applyPair = (next) => {
    (app.server as unknown as TlsServer).setSecureContext({ cert: next.cert, key: next.key })
    metrics.certReloads.inc({ result: 'ok' })
    logger.info('serving certificate reloaded')
  }
  app.addHook('onClose', async () => handle.close())
  return listenAndServe(app, state, config, io, logger)
}

async function listenAndServe(app: FastifyInstance, state: ServingState, config: WebhookConfig, io: CliIO, logger: pino.Logger): Promise<number> {
  try {
    await app.listen({ host: config.host, port: config.port })
  } catch (err) {
    io.stderr.write(`contour-tls-injector webhook: cannot listen on ${config.host}:${config.port}: ${(err as Error).message} (ERR_LISTEN)\n`)
    await app.close()
    return 1
  }
  logger.info({ host: config.host, port: config.port }, 'webhook listening')

  await waitForStop(io.stopSignal)
  // The apiserver keeps reusing open connections to a terminating pod: fail readiness first,
  // keep serving for the drain period, then close (idle connections close at once).
  state.draining = true
  logger.info({ drainMs: config.drainMs }, 'draining')
  await new Promise((resolve) => setTimeout(resolve, config.drainMs))
  await app.close()
  logger.info('stopped')
  return 0
}

function waitForStop(signal: AbortSignal | undefined): Promise<void> {
  if (signal === undefined) return new Promise(() => undefined)
  if (signal.aborted) return Promise.resolve()
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }))
}

function devBanner(config: WebhookConfig, caFile: string): string {
  const url = `https://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${config.port}`
  return [
    '',
    `Development mode: serving ${url} with a generated certificate (CA: ${caFile}).`,
    'Send it a review, for example:',
    `  curl --cacert ${caFile} -H 'Content-Type: application/json' \\`,
    `    --data @test/fixtures/reviews/envoy-daemonset-pod.json ${url}/mutate`,
    `  curl --cacert ${caFile} ${url}/metrics`,
    '',
  ].join('\n') + '\n'
}
