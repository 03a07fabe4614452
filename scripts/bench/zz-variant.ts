import Fastify from 'fastify'
import pino from 'pino'
import { readFile } from 'node:fs/promises'
import { buildApp } from '../../src/server/build-app.ts'
import { admitReview, parseAdmissionReview } from '../../src/server/review.ts'
const [certFile, keyFile, port, variant] = process.argv.slice(2)
const https = { cert: await readFile(certFile!), key: await readFile(keyFile!) }
const injection = { image: 'ghcr.io/contour-tls-injector/contour-tls-injector:0.1.0', imagePullPolicy: 'IfNotPresent', secretNames: { contour: 'contour-tls', envoy: 'envoy-tls', ca: 'contour-ca' }, mountRoot: '/etc/tls', version: '0.1.0' } as const
let app
if (variant === 'A') app = buildApp({ injection, https, loggerInstance: pino({ level: 'warn' }) }).app
else if (variant === 'B') app = buildApp({ injection, https, logger: false }).app
else {
  app = Fastify({ https, bodyLimit: 4 * 1024 * 1024, keepAliveTimeout: 100_000 })
  app.post('/mutate', async (request) => admitReview(parseAdmissionReview(request.body), injection).body)
}
await app.listen({ host: '127.0.0.1', port: Number(port) })
