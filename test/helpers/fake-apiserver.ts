// A small, real HTTP(S) server with the Secrets part of the Kubernetes API: GET (one or list),
// POST and PUT on /api/v1/namespaces/<ns>/secrets[/<name>], with the apiserver's semantics that
// bootstrap-tls depends on: a global resourceVersion that increases on every write, 409
// AlreadyExists on create, 409 Conflict on a PUT with a stale resourceVersion, 422 when a
// Secret's type changes, bearer-token authentication (401), and Status bodies shaped like the
// apiserver's. Faults (403, 5xx, 429, dropped connections) can be injected per verb and name.
// The real @kubernetes/client-node code path talks to it through a kubeconfig it writes.
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { writeFile } from 'node:fs/promises'
import http from 'node:http'
import https from 'node:https'
import type { AddressInfo, Socket } from 'node:net'
import { join } from 'node:path'
import { issueCertificateSet } from '../../src/core/certs/issue-set.ts'

export type Verb = 'get' | 'list' | 'create' | 'update'

export interface Fault {
  readonly verb: Verb | '*'
  /** Only requests for this Secret name (create: the body's name). */
  readonly name?: string
  readonly namespace?: string
  /** An HTTP status to answer with, or 'reset' to destroy the socket without an answer. */
  readonly status: number | 'reset'
  /** How many matching requests fail; default: all of them. */
  readonly times?: number
  readonly retryAfterSeconds?: number
}

export interface RequestRecord {
  readonly verb: Verb | 'other'
  readonly namespace: string
  readonly name: string | undefined
  readonly status: number | 'reset'
}

export interface StoredObject {
  apiVersion: 'v1'
  kind: 'Secret'
  metadata: {
    name: string
    namespace: string
    uid: string
    resourceVersion: string
    creationTimestamp: string
    labels?: Record<string, string>
    annotations?: Record<string, string>
  }
  type: string
  data: Record<string, string>
}

export interface FakeApiServerOptions {
  /** HTTPS with a CA in the kubeconfig (default), or plain HTTP. */
  readonly tls?: boolean
  /** Listen on this port (e.g. one a client already retries against); default any free port. */
  readonly port?: number
  /** The service account the bearer token names (`ns:name`), default `test:contour`. */
  readonly serviceAccount?: string
  /** Accept this bearer token (e.g. the one of an earlier server on the same port). */
  readonly token?: string
  /** Serve with this certificate (e.g. the one of an earlier server on the same port). */
  readonly certificate?: ServingCertificate
  /** A random delay per request, to shuffle concurrent clients. */
  readonly latencyMs?: { readonly min: number; readonly max: number }
}

export interface ServingCertificate {
  readonly cert: string
  readonly key: string
  readonly caCert: string
}

export interface FakeApiServer {
  readonly url: string
  /** The serving certificate (HTTPS only), to start another server that the same kubeconfig trusts. */
  readonly certificate: ServingCertificate | undefined
  readonly port: number
  readonly token: string
  readonly serviceAccount: string
  readonly requests: RequestRecord[]
  /** A kubeconfig for this server; `token` overrides the valid one (e.g. to provoke 401). */
  writeKubeconfig(dir: string, opts?: { namespace?: string; token?: string; fileName?: string }): Promise<string>
  inject(fault: Fault): void
  clearFaults(): void
  /** Direct access, bypassing HTTP, for tests that inspect or stage state. */
  secret(namespace: string, name: string): StoredObject | undefined
  close(): Promise<void>
}

const SECRET_PATH = /^\/api\/v1\/namespaces\/([^/]+)\/secrets(?:\/([^/]+))?\/?$/

export async function startFakeApiServer(opts: FakeApiServerOptions = {}): Promise<FakeApiServer> {
  const useTls = opts.tls ?? true
  const serviceAccount = opts.serviceAccount ?? 'test:contour'
  const token = opts.token ?? makeServiceAccountToken(serviceAccount)
  const store = new Map<string, StoredObject>()
  const faults: Array<Fault & { remaining: number }> = []
  const requests: RequestRecord[] = []
  let revision = 1000

  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const delay = opts.latencyMs ? opts.latencyMs.min + Math.random() * (opts.latencyMs.max - opts.latencyMs.min) : 0
      setTimeout(() => serve(req, res, Buffer.concat(chunks).toString('utf8')), delay)
    })
  }

  function serve(req: http.IncomingMessage, res: http.ServerResponse, body: string): void {
    const url = new URL(req.url ?? '/', 'http://x')
    const match = SECRET_PATH.exec(url.pathname)
    const namespace = decodeURIComponent(match?.[1] ?? '')
    let name = match?.[2] === undefined ? undefined : decodeURIComponent(match[2])
    const verb: Verb | 'other' =
      match === null ? 'other' : req.method === 'GET' ? (name ? 'get' : 'list') : req.method === 'POST' && !name ? 'create' : req.method === 'PUT' && name ? 'update' : 'other'
    let parsed: Partial<StoredObject> | undefined
    const record = (s: number | 'reset'): void => void requests.push({ verb, namespace, name, status: s })
    const reply = (code: number, payload: unknown, headers: Record<string, string> = {}): void => {
      record(code)
      res.writeHead(code, { 'content-type': 'application/json', ...headers })
      res.end(JSON.stringify(payload))
    }
    if (verb === 'create' || verb === 'update') {
      try {
        parsed = JSON.parse(body) as Partial<StoredObject>
      } catch {
        return reply(400, status(400, 'BadRequest', 'the request body is not JSON'))
      }
      if (verb === 'create') name = parsed.metadata?.name
    }

    if (req.headers.authorization !== `Bearer ${token}`) return reply(401, status(401, 'Unauthorized', 'Unauthorized'))
    if (verb === 'other') return reply(404, status(404, 'NotFound', 'the server could not find the requested resource'))

    const fault = faults.find((f) => f.remaining > 0 && (f.verb === '*' || f.verb === verb) && (f.name === undefined || f.name === name) && (f.namespace === undefined || f.namespace === namespace))
    if (fault) {
      fault.remaining--
      if (fault.status === 'reset') {
        record('reset')
        req.socket.destroy()
        return
      }
      return reply(fault.status, faultStatus(fault.status, verb, namespace, name, serviceAccount), fault.retryAfterSeconds === undefined ? {} : { 'retry-after': String(fault.retryAfterSeconds) })
    }

    const key = `${namespace}/${name ?? ''}`
    const existing = store.get(key)
    switch (verb) {
      case 'get':
        return existing ? reply(200, existing) : reply(404, notFound(name ?? ''))
      case 'list': {
        const items = [...store.values()].filter((s) => s.metadata.namespace === namespace)
        return reply(200, { apiVersion: 'v1', kind: 'SecretList', metadata: { resourceVersion: String(revision) }, items })
      }
      case 'create': {
        const invalid = validate(parsed ?? {}, namespace)
        if (invalid) return reply(invalid.code, invalid)
        if (parsed?.metadata?.resourceVersion) return reply(500, status(500, 'InternalError', 'resourceVersion should not be set on objects to be created'))
        if (existing) return reply(409, status(409, 'AlreadyExists', `secrets "${name}" already exists`, name))
        const created = normalize(parsed ?? {}, namespace, ++revision, randomUUID(), new Date().toISOString())
        store.set(key, created)
        return reply(201, created)
      }
      case 'update': {
        const invalid = validate(parsed ?? {}, namespace, name)
        if (invalid) return reply(invalid.code, invalid)
        if (!existing) return reply(404, notFound(name ?? ''))
        const wanted = parsed?.metadata?.resourceVersion
        if (wanted && wanted !== existing.metadata.resourceVersion) {
          return reply(409, status(409, 'Conflict', `Operation cannot be fulfilled on secrets "${name}": the object has been modified; please apply your changes to the latest version and try again`, name))
        }
        if ((parsed?.type ?? 'Opaque') !== existing.type) {
          return reply(422, status(422, 'Invalid', `Secret "${name}" is invalid: type: Invalid value: "${parsed?.type}": field is immutable`, name))
        }
        const next = normalize(parsed ?? {}, namespace, revision + 1, existing.metadata.uid, existing.metadata.creationTimestamp)
        if (sameContent(next, existing)) return reply(200, existing) // a no-op write keeps the resourceVersion
        revision++
        store.set(key, next)
        return reply(200, next)
      }
    }
  }

  let server: http.Server | https.Server
  let certificate: ServingCertificate | undefined
  if (useTls) {
    certificate = opts.certificate ?? (await makeServingCertificate())
    server = https.createServer({ cert: certificate.cert, key: certificate.key }, handler)
  } else {
    server = http.createServer(handler)
  }
  const sockets = new Set<Socket>()
  server.on('connection', (s: Socket) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  server.listen(opts.port ?? 0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as AddressInfo).port
  const url = `${useTls ? 'https' : 'http'}://127.0.0.1:${port}`
  const ca = certificate?.caCert

  return {
    url,
    certificate,
    port,
    token,
    serviceAccount,
    requests,
    async writeKubeconfig(dir, k = {}) {
      const path = join(dir, k.fileName ?? 'kubeconfig')
      await writeFile(path, kubeconfigFor(url, ca, k.token ?? token, k.namespace), { mode: 0o600 })
      return path
    },
    inject(fault) {
      faults.push({ ...fault, remaining: fault.times ?? Infinity })
    },
    clearFaults() {
      faults.length = 0
    },
    secret(namespace, name) {
      const s = store.get(`${namespace}/${name}`)
      return s === undefined ? undefined : structuredClone(s)
    },
    async close() {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

async function makeServingCertificate(): Promise<ServingCertificate> {
  const set = await issueCertificateSet({ namespace: 'default', serviceName: 'localhost', extraSans: ['127.0.0.1'], lifetimeDays: 2 })
  return { cert: set.contourCert, key: set.contourKey, caCert: set.caCert }
}

/** A JWT-shaped token whose `sub` names the service account, like a projected token's. */
export function makeServiceAccountToken(serviceAccount: string): string {
  const [ns, name] = serviceAccount.split(':')
  const enc = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url')
  return `${enc({ alg: 'RS256', kid: 'fake' })}.${enc({ iss: 'https://kubernetes.default.svc', sub: `system:serviceaccount:${ns}:${name}` })}.${Buffer.from(randomUUID()).toString('base64url')}`
}

export function kubeconfigFor(server: string, caCert: string | undefined, token: string, namespace?: string): string {
  // JSON is YAML: the client's kubeconfig loader reads it as it is.
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{
      name: 'fake',
      // The client refuses plain HTTP unless TLS verification is switched off explicitly.
      cluster: { server, ...(caCert ? { 'certificate-authority-data': Buffer.from(caCert).toString('base64') } : { 'insecure-skip-tls-verify': true }) },
    }],
    users: [{ name: 'fake-user', user: { token } }],
    contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'fake-user', ...(namespace ? { namespace } : {}) } }],
    'current-context': 'fake',
  }, null, 2)
}

function status(code: number, reason: string, message: string, name?: string): Record<string, unknown> {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    ...(name === undefined ? {} : { details: { name, kind: 'secrets' } }),
    code,
  }
}

function notFound(name: string): Record<string, unknown> {
  return status(404, 'NotFound', `secrets "${name}" not found`, name)
}

function faultStatus(code: number, verb: Verb, namespace: string, name: string | undefined, serviceAccount: string): Record<string, unknown> {
  if (code === 403) {
    const [ns, sa] = serviceAccount.split(':')
    const what = verb === 'create' || verb === 'list' ? 'secrets' : `secrets "${name}"`
    return status(403, 'Forbidden', `${what} is forbidden: User "system:serviceaccount:${ns}:${sa}" cannot ${verb} resource "secrets" in API group "" in the namespace "${namespace}"`, name)
  }
  if (code === 429) return status(429, 'TooManyRequests', 'Too many requests, please try again later.')
  if (code === 503) return status(503, 'ServiceUnavailable', 'the server is currently unable to handle the request')
  if (code >= 500) return status(code, 'InternalError', 'Internal error occurred: injected fault')
  return status(code, 'BadRequest', 'injected fault', name)
}

function validate(obj: Partial<StoredObject>, namespace: string, urlName?: string): Record<string, unknown> & { code: number } | undefined {
  const name = obj.metadata?.name
  if (!name) return { ...status(422, 'Invalid', 'Secret "" is invalid: metadata.name: Required value: name or generateName is required'), code: 422 }
  if (urlName !== undefined && name !== urlName) return { ...status(400, 'BadRequest', 'the name of the object does not match the name on the URL'), code: 400 }
  if (obj.metadata?.namespace && obj.metadata.namespace !== namespace) {
    return { ...status(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request'), code: 400 }
  }
  for (const [key, value] of Object.entries(obj.data ?? {})) {
    if (typeof value !== 'string' || Buffer.from(value, 'base64').toString('base64') !== value) {
      return { ...status(400, 'BadRequest', `Secret in version "v1" cannot be handled as a Secret: illegal base64 data in data[${key}]`), code: 400 }
    }
  }
  if (obj.type === 'kubernetes.io/tls' && (obj.data?.['tls.crt'] === undefined || obj.data['tls.key'] === undefined)) {
    return { ...status(422, 'Invalid', `Secret "${name}" is invalid: data[tls.crt]/data[tls.key]: Required value`, name), code: 422 }
  }
  return undefined
}

function normalize(obj: Partial<StoredObject>, namespace: string, revision: number, uid: string, created: string): StoredObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: obj.metadata?.name ?? '',
      namespace,
      uid,
      resourceVersion: String(revision),
      creationTimestamp: created,
      ...(obj.metadata?.labels ? { labels: obj.metadata.labels } : {}),
      ...(obj.metadata?.annotations ? { annotations: obj.metadata.annotations } : {}),
    },
    type: obj.type ?? 'Opaque',
    data: obj.data ?? {},
  }
}

function sameContent(a: StoredObject, b: StoredObject): boolean {
  const strip = (o: StoredObject): string => JSON.stringify([o.type, o.data, o.metadata.labels ?? {}, o.metadata.annotations ?? {}])
  return strip(a) === strip(b)
}
