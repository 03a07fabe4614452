// A small Kubernetes REST client over node:https with keep-alive: enough for setting the cluster
// up, for tests and for the benchmark (where per-request overhead must be the apiserver's, not
// a client library's). Credentials are a client certificate or a bearer token.
import { Agent, request } from 'node:https'

export interface KubeCredentials {
  readonly server: string
  readonly ca: string
  readonly cert?: string
  readonly key?: string
  readonly token?: string
}

export interface KubeResponse<T = unknown> {
  readonly status: number
  readonly body: T
}

export interface KubeStatus {
  readonly kind?: string
  readonly status?: string
  readonly message?: string
  readonly reason?: string
  readonly code?: number
}

export class KubeApiError extends Error {
  readonly code = 'ERR_KUBE_API'
  readonly status: number
  readonly reason: string | undefined
  constructor(method: string, path: string, status: number, body: unknown) {
    const s = (typeof body === 'object' && body !== null ? body : {}) as KubeStatus
    super(`${method} ${path}: HTTP ${status}${s.reason ? ` ${s.reason}` : ''}: ${s.message ?? JSON.stringify(body).slice(0, 300)}`)
    this.status = status
    this.reason = s.reason
    this.name = 'KubeApiError'
  }
}

export type ContentType = 'application/json' | 'application/apply-patch+yaml' | 'application/merge-patch+json' | 'application/json-patch+json' | 'application/strategic-merge-patch+json'

export interface KubeApi {
  readonly credentials: KubeCredentials
  /** Any status; the caller decides. */
  raw<T = unknown>(method: string, path: string, body?: unknown, contentType?: ContentType): Promise<KubeResponse<T>>
  /** 2xx or KubeApiError. */
  call<T = unknown>(method: string, path: string, body?: unknown, contentType?: ContentType): Promise<T>
  /** Server-side apply with force: idempotent create-or-update of the fields we own. */
  apply<T = unknown>(path: string, object: unknown, fieldManager?: string): Promise<T>
  close(): void
}

export function createKubeApi(credentials: KubeCredentials, opts: { maxSockets?: number; timeoutMs?: number } = {}): KubeApi {
  const url = new URL(credentials.server)
  const agent = new Agent({ keepAlive: true, maxSockets: opts.maxSockets ?? 8, ca: credentials.ca, cert: credentials.cert, key: credentials.key })
  const timeoutMs = opts.timeoutMs ?? 30_000

  const raw = <T>(method: string, path: string, body?: unknown, contentType: ContentType = 'application/json'): Promise<KubeResponse<T>> =>
    new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body)
      const headers: Record<string, string | number> = { accept: 'application/json' }
      if (payload !== undefined) {
        headers['content-type'] = contentType
        headers['content-length'] = Buffer.byteLength(payload)
      }
      if (credentials.token !== undefined) headers.authorization = `Bearer ${credentials.token}`
      const req = request({ host: url.hostname, port: url.port, path, method, agent, headers, timeout: timeoutMs }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          let parsed: unknown = text
          try {
            parsed = text === '' ? undefined : JSON.parse(text)
          } catch {
            // not JSON (e.g. /readyz): keep the text
          }
          resolve({ status: res.statusCode ?? 0, body: parsed as T })
        })
        res.on('error', reject)
      })
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)))
      req.on('error', reject)
      req.end(payload)
    })

  const call = async <T>(method: string, path: string, body?: unknown, contentType?: ContentType): Promise<T> => {
    const res = await raw<T>(method, path, body, contentType)
    if (res.status < 200 || res.status > 299) throw new KubeApiError(method, path, res.status, res.body)
    return res.body
  }

  return {
    credentials,
    raw,
    call,
    apply: (path, object, fieldManager = 'contour-tls-injector-cluster') =>
      call('PATCH', `${path}${path.includes('?') ? '&' : '?'}fieldManager=${encodeURIComponent(fieldManager)}&force=true`, object, 'application/apply-patch+yaml'),
    close: () => agent.destroy(),
  }
}
