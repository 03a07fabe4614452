// The floor any fastify webhook pays: HTTPS, keep-alive, parse the same JSON body, answer an empty
// review with the uid echoed. No injection, no metrics, no logging. With a fourth argument (a file
// holding an AdmissionReview response) it answers with those bytes instead, the uid spliced in:
// the bench's control for what sending a patch of that size costs on its own.
import Fastify from 'fastify'
import { readFile } from 'node:fs/promises'

const [certFile, keyFile, port, answerFile] = process.argv.slice(2)
if (certFile === undefined || keyFile === undefined || port === undefined) throw new Error('usage: floor-server CERT KEY PORT [ANSWER_FILE]')
const answer = answerFile === undefined ? undefined : splitAtUid(await readFile(answerFile, 'utf8'))
const app = Fastify({ https: { cert: await readFile(certFile), key: await readFile(keyFile) }, bodyLimit: 4 * 1024 * 1024, keepAliveTimeout: 100_000 })
app.post('/mutate', async (request, reply) => {
  const body = request.body as { request?: { uid?: string } }
  const uid = body.request?.uid ?? ''
  if (answer !== undefined) return reply.type('application/json; charset=utf-8').send(`${answer.before}${JSON.stringify(uid)}${answer.after}`)
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid, allowed: true } }
})
await app.listen({ host: '127.0.0.1', port: Number(port) })
process.stdout.write('ready\n')
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)))

function splitAtUid(text: string): { before: string; after: string } {
  const parsed = JSON.parse(text) as { response: { uid: string } }
  const marker = `"uid":${JSON.stringify(parsed.response.uid)}`
  const at = text.indexOf(marker)
  if (at === -1) throw new Error('the answer has no uid to replace')
  return { before: text.slice(0, at + '"uid":'.length), after: text.slice(at + marker.length) }
}
