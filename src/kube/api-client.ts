// A minimal JSON client for the Kubernetes API over node:https (node:http for a plain-HTTP
// kubeconfig server): one keep-alive agent, so concurrent and successive requests share TLS
// connections, and a per-request timeout covering connect, answer and body.
import type http from 'node:http'
import type https from 'node:https'
import { VERSION } from '../version.ts'
import type { ApiConnection } from './api-target.ts'

export interface ApiAnswer {
  readonly status: number
  readonly headers: http.IncomingHttpHeaders
  /** The body as text ('' when empty). */
  readonly body: string
}

export interface ApiClient {
  /** Resolves with any HTTP answer, 4xx/5xx included; rejects only when there was none (network, TLS, timeout). */
  request(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown): Promise<ApiAnswer>
  /** Closes idle keep-alive connections. */
  close(): void
}

export interface ApiClientOptions {
  /** Abandon a request (connect, answer and body) after this long: it rejects with a TimeoutError. */
  readonly requestTimeoutMs: number
}

const USER_AGENT = `contour-tls-injector/${VERSION}`

// Not `import http from 'node:http'`: the ESM facade of node:http evaluates every export,
// including the lazy WebSocket/undici ones, which costs ~15 ms at start-up for nothing.
const builtins = (): { http: typeof http; https: typeof https } => ({ http: process.getBuiltinModule('node:http'), https: process.getBuiltinModule('node:https') })

export function createApiClient(connection: ApiConnection, opts: ApiClientOptions): ApiClient {
  const { server } = connection
  const secure = server.protocol === 'https:'
  const { http, https } = builtins()
  const transport = secure ? https : http
  // Free sockets are unref'd by the agent: idle connections never keep the process alive.
  const agent = secure ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true })
  const hostname = server.hostname.replace(/^\[(.*)\]$/, '$1')
  const port = server.port === '' ? (secure ? 443 : 80) : Number(server.port)
  const prefix = server.pathname.replace(/\/+$/, '')

  return {
    async request(method, path, body) {
      const settings = await connection.requestSettings()
      const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
      return new Promise<ApiAnswer>((resolve, reject) => {
        let settled = false
        const settle = (fn: () => void): void => {
          if (settled) return
          settled = true
          clearTimeout(timer)
          fn()
        }
        const req = transport.request(
          {
            ...settings.tls,
            hostname,
            port,
            method,
            path: prefix + path,
            agent: settings.agent ?? agent,
            auth: settings.auth,
            headers: {
              accept: 'application/json',
              'user-agent': USER_AGENT,
              ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(payload.length) }),
              ...settings.headers,
            },
          } as https.RequestOptions,
          (res) => {
            const chunks: Buffer[] = []
            res.on('data', (c: Buffer) => chunks.push(c))
            res.on('end', () => settle(() => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') })))
            res.on('error', (err) => settle(() => reject(err)))
            res.on('close', () => {
              if (!res.complete) settle(() => reject(Object.assign(new Error('the connection closed before the answer was complete'), { code: 'ECONNRESET' })))
            })
          },
        )
        const timer = setTimeout(() => {
          const err = new Error(`no answer within ${opts.requestTimeoutMs} ms`)
          err.name = 'TimeoutError'
          settle(() => reject(err))
          req.destroy(err)
        }, opts.requestTimeoutMs)
        req.on('error', (err) => settle(() => reject(err)))
        req.end(payload)
      })
    },
    close() {
      agent.destroy()
    },
  }
}
