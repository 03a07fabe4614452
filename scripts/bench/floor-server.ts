// The floor any fastify webhook pays: HTTPS, keep-alive, parse the same JSON body, answer an empty
// review with the uid echoed. No injection, no metrics, no logging.
import Fastify from 'fastify'
import { readFile } from 'node:fs/promises'

const [certFile, keyFile, port] = process.argv.slice(2)
if (certFile === undefined || keyFile === undefined || port === undefined) throw new Error('usage: floor-server CERT KEY PORT')
const app = Fastify({ https: { cert: await readFile(certFile), key: await readFile(keyFile) }, bodyLimit: 4 * 1024 * 1024, keepAliveTimeout: 100_000 })
app.post('/mutate', async (request) => {
  const body = request.body as { request?: { uid?: string } }
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: body.request?.uid ?? '', allowed: true } }
})
await app.listen({ host: '127.0.0.1', port: Number(port) })
process.stdout.write('ready\n')
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)))
