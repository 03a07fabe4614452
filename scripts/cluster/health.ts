// Health probes of the cluster's endpoints; each returns undefined when healthy and throws a
// short reason otherwise (the form waitFor expects).
import { request } from 'node:https'
import { createServer } from 'node:net'

/** GET, or POST of a JSON body when one is given. */
export function httpsStatus(url: string, tls: { ca?: string; cert?: string; key?: string; insecure?: boolean }, timeoutMs = 3000, jsonBody?: string): Promise<{ status: number; body: string }> {
  const u = new URL(url)
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: u.hostname, port: u.port, path: u.pathname + u.search, method: jsonBody === undefined ? 'GET' : 'POST', ca: tls.ca, cert: tls.cert, key: tls.key, rejectUnauthorized: tls.insecure !== true, agent: false, timeout: timeoutMs,
        headers: jsonBody === undefined ? {} : { 'content-type': 'application/json' },
      },
      (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => (body += c))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
        res.on('error', reject)
      },
    )
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)))
    req.on('error', reject)
    req.end(jsonBody)
  })
}

/** 200 or a thrown reason naming the status and the start of the body. */
export async function expectOk(url: string, tls: Parameters<typeof httpsStatus>[1]): Promise<true> {
  const res = await httpsStatus(url, tls)
  if (res.status !== 200) throw new Error(`${url}: HTTP ${res.status} ${res.body.slice(0, 200).replace(/\s+/g, ' ')}`)
  return true
}

export async function etcdHealthy(port: number, host = '127.0.0.1'): Promise<true> {
  const res = await fetch(`http://${host}:${port}/health`, { signal: AbortSignal.timeout(3000) })
  const body = (await res.json()) as { health?: string }
  if (body.health !== 'true') throw new Error(`etcd /health: ${JSON.stringify(body)}`)
  return true
}

export function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer()
    srv.once('error', () => resolve(false))
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)))
  })
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      srv.close(() => (typeof addr === 'object' && addr !== null ? resolve(addr.port) : reject(new Error('no port'))))
    })
  })
}
