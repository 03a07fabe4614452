// Runs real TLS 1.3 handshakes with client-certificate verification at a simulated time. It runs
// under libfaketime (see handshakes.ts): before each handshake it writes the simulated time to
// the timestamp file that libfaketime re-reads, so OpenSSL checks validity at that time. No
// network: both ends live in this process, joined by an in-memory stream pair.
// Protocol: one JSON request per stdin line, one JSON answer per stdout line, in order.
import { writeFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { duplexPair } from 'node:stream'
import { connect, createServer } from 'node:tls'

interface End {
  readonly cert: string
  readonly key: string
  readonly ca: string
}

interface Request {
  readonly at: number
  readonly server: End
  readonly client: End
}

const timestampFile = process.env.FAKETIME_TIMESTAMP_FILE
if (!timestampFile) throw new Error('handshake-worker: run me under libfaketime with FAKETIME_TIMESTAMP_FILE')

function setTime(at: number): void {
  const d = new Date(at)
  const pad = (n: number): string => String(n).padStart(2, '0')
  writeFileSync(timestampFile as string, `@${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}\n`)
}

async function handshake(req: Request): Promise<{ ok: boolean; server?: string; client?: string; protocol?: string }> {
  setTime(req.at)
  const [a, b] = duplexPair()
  const tlsServer = createServer({ cert: req.server.cert, key: req.server.key, ca: req.server.ca, minVersion: 'TLSv1.3', requestCert: true, rejectUnauthorized: true })
  let serverError: string | undefined
  let clientError: string | undefined
  let protocol: string | undefined
  let settled = false
  const serverDone = new Promise<void>((resolve) => {
    tlsServer.once('secureConnection', (socket) => {
      settled = true
      if (!socket.authorized) serverError = String(socket.authorizationError)
      socket.destroy()
      resolve()
    })
    tlsServer.once('tlsClientError', (err: NodeJS.ErrnoException) => {
      settled = true
      serverError = err.code ?? err.message
      resolve()
    })
  })
  // A tls.Server accepts any duplex stream as a connection: no socket, no network.
  tlsServer.emit('connection', a)
  const client = connect({ socket: b, servername: 'contour', cert: req.client.cert, key: req.client.key, ca: req.client.ca, minVersion: 'TLSv1.3', rejectUnauthorized: true })
  const clientDone = new Promise<void>((resolve) => {
    client.once('secureConnect', () => {
      protocol = client.getProtocol() ?? undefined
      resolve()
    })
    client.once('error', (err: NodeJS.ErrnoException) => {
      clientError = err.code ?? err.message
      resolve()
    })
  })
  // In TLS 1.3 the client finishes before the server has judged its certificate: wait for both.
  // A client that refused the server never sends its certificate: the server then sees a closed stream.
  await clientDone
  if (clientError === undefined) {
    await Promise.race([serverDone, new Promise((resolve) => setTimeout(resolve, 2000))])
    if (!settled) serverError = 'no verdict from the server within 2 s'
  }
  client.destroy()
  a.destroy()
  b.destroy()
  tlsServer.close()
  const ok = clientError === undefined && serverError === undefined && protocol === 'TLSv1.3'
  return { ok, ...(serverError ? { server: serverError } : {}), ...(clientError ? { client: clientError } : {}), ...(protocol ? { protocol } : {}) }
}

const lines = createInterface({ input: process.stdin })
for await (const line of lines) {
  if (line.trim() === '') continue
  const answer = await handshake(JSON.parse(line) as Request)
  process.stdout.write(`${JSON.stringify(answer)}\n`)
}
