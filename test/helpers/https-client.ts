// A tiny HTTPS client over node:https for tests that need the real socket and TLS handshake.
import { request, type Agent } from 'node:https'
import type { TLSSocket } from 'node:tls'
import { createServer } from 'node:net'

export interface HttpsResult {
  statusCode: number
  headers: Record<string, string | string[] | undefined>
  body: string
  peerFingerprint: string
  reusedSocket: boolean
  protocol: string | null
}

export function httpsRequest(opts: { port: number; path: string; method?: string; body?: string | Buffer; contentType?: string; agent: Agent | false; ca: string[] }): Promise<HttpsResult> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1', port: opts.port, path: opts.path, method: opts.method ?? 'GET', agent: opts.agent, ca: opts.ca, servername: 'localhost',
      headers: opts.body === undefined ? {} : { 'content-type': opts.contentType ?? 'application/json', 'content-length': Buffer.byteLength(opts.body) },
    }, (res) => {
      // Read the socket now: at 'end' it is detached (keep-alive) or destroyed.
      const socket = res.socket as TLSSocket
      const peerFingerprint = socket.getPeerCertificate().fingerprint256
      const protocol = socket.getProtocol()
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        resolve({
          statusCode: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          peerFingerprint,
          protocol,
          reusedSocket: req.reusedSocket,
        })
      })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(opts.body)
  })
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      srv.close(() => (typeof addr === 'object' && addr !== null ? resolve(addr.port) : reject(new Error('no port'))))
    })
  })
}
