// Runs one real TLS connection on 127.0.0.1 and reports what each side saw, then closes both.
import { once } from 'node:events'
import type { AddressInfo, Socket } from 'node:net'
import tls from 'node:tls'

export interface ServerView {
  /** The server completed the handshake ('secureConnection'). */
  readonly secured: boolean
  readonly authorized?: boolean
  readonly peerCommonName?: string
  readonly protocol?: string | null
  /** Set when the server accepted a client it does not verify (rejectUnauthorized: false). */
  readonly authorizationError?: string
  /** 'tlsClientError' on the server: the handshake failed there. */
  readonly errorCode?: string
}

export interface ClientView {
  readonly secured: boolean
  readonly authorized?: boolean
  readonly authorizationError?: string
  readonly protocol?: string | null
  /** Application data received from the server: proof the connection really carried data. */
  readonly received: string
  readonly errorCode?: string
}

const SETTLE_TIMEOUT_MS = 5000

export async function runHandshake(
  serverOptions: tls.TlsOptions,
  clientOptions: tls.ConnectionOptions,
): Promise<{ server: ServerView; client: ClientView }> {
  const server = tls.createServer(serverOptions)
  const rawSockets = new Set<Socket>()
  let serverView: ServerView = { secured: false }
  const serverSettled = new Promise<void>((resolve) => {
    // With rejectUnauthorized a Node server drops a client whose certificate fails verification
    // without any event: the closing of the raw socket is the only sign.
    server.on('connection', (socket: Socket) => {
      rawSockets.add(socket)
      socket.on('close', () => resolve())
    })
    server.on('secureConnection', (socket: tls.TLSSocket) => {
      const peer = socket.getPeerCertificate()
      serverView = {
        secured: true,
        authorized: socket.authorized,
        authorizationError: errorCodeOf(socket.authorizationError),
        peerCommonName: typeof peer.subject?.CN === 'string' ? peer.subject.CN : undefined,
        protocol: socket.getProtocol(),
      }
      socket.on('error', () => undefined)
      socket.end('hello from contour')
      resolve()
    })
    server.on('tlsClientError', (error: NodeJS.ErrnoException) => {
      serverView = { secured: false, errorCode: error.code ?? error.message }
      resolve()
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo

  let clientView: ClientView = { secured: false, received: '' }
  const client = tls.connect({ host: '127.0.0.1', port, ...clientOptions })
  client.setEncoding('utf8')
  const clientSettled = new Promise<void>((resolve) => {
    client.on('secureConnect', () => {
      clientView = {
        ...clientView,
        secured: true,
        authorized: client.authorized,
        authorizationError: errorCodeOf(client.authorizationError),
        protocol: client.getProtocol(),
      }
    })
    client.on('data', (chunk: string) => {
      clientView = { ...clientView, received: clientView.received + chunk }
    })
    client.on('error', (error: NodeJS.ErrnoException) => {
      clientView = { ...clientView, errorCode: error.code ?? error.message }
    })
    client.on('close', () => resolve())
  })

  try {
    await withTimeout(Promise.all([serverSettled, clientSettled]), SETTLE_TIMEOUT_MS)
  } finally {
    client.destroy()
    for (const socket of rawSockets) socket.destroy()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
  return { server: serverView, client: clientView }
}

async function withTimeout(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`handshake did not settle within ${ms} ms`)), ms)
  })
  try {
    await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

// Node types authorizationError as an Error, but at runtime it is often the bare OpenSSL code.
function errorCodeOf(error: Error | string | null | undefined): string | undefined {
  if (error === undefined || error === null) return undefined
  if (typeof error === 'string') return error
  return (error as NodeJS.ErrnoException).code ?? error.message
}
