// An Envoy-side client for Contour's xDS port: a TLS 1.3 handshake (client certificate, server
// name `contour` as Envoy's bootstrap pins it), an HTTP/2 session, and one real gRPC call to
// the Aggregated Discovery Service with a hand-encoded protobuf DiscoveryRequest.
import { connect as http2Connect, type ClientHttp2Session } from 'node:http2'
import { connect as tlsConnect, type TLSSocket } from 'node:tls'

export interface ClientTls {
  readonly ca: string
  readonly cert?: string
  readonly key?: string
  readonly servername?: string
}

export interface ProbeResult {
  /** The server's HTTP/2 SETTINGS arrived: the connection was accepted. */
  readonly accepted: boolean
  readonly protocol?: string | null
  readonly alpn?: string | false | null
  readonly authorized?: boolean
  readonly error?: string
}

function openSocket(port: number, tls: ClientTls): TLSSocket {
  return tlsConnect({ host: '127.0.0.1', port, servername: tls.servername ?? 'contour', ca: tls.ca, cert: tls.cert, key: tls.key, ALPNProtocols: ['h2'], minVersion: 'TLSv1.3' })
}

function openSession(port: number, tls: ClientTls): { session: ClientHttp2Session; socket: TLSSocket } {
  const socket = openSocket(port, tls)
  const session = http2Connect(`https://${tls.servername ?? 'contour'}:${port}`, { createConnection: () => socket })
  return { session, socket }
}

/** Handshake plus HTTP/2 preface; TLS 1.3 reports a refused client certificate only after the handshake. */
export function probe(port: number, tls: ClientTls, timeoutMs = 5000): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const { session, socket } = openSession(port, tls)
    const done = (r: ProbeResult) => {
      clearTimeout(timer)
      session.destroy()
      socket.destroy()
      resolve(r)
    }
    const timer = setTimeout(() => done({ accepted: false, error: `no SETTINGS within ${timeoutMs} ms` }), timeoutMs)
    session.once('remoteSettings', () => done({ accepted: true, protocol: socket.getProtocol(), alpn: socket.alpnProtocol, authorized: socket.authorized }))
    const fail = (err: NodeJS.ErrnoException) => done({ accepted: false, error: `${err.code ?? ''} ${err.message}`.trim() })
    session.once('error', fail)
    socket.once('error', fail)
    session.once('close', () => done({ accepted: false, error: 'closed before SETTINGS' }))
  })
}

// --- protobuf, just enough for DiscoveryRequest/DiscoveryResponse -------------------------
function varint(n: number): Buffer {
  const bytes: number[] = []
  while (n > 0x7f) {
    bytes.push((n & 0x7f) | 0x80)
    n >>>= 7
  }
  bytes.push(n)
  return Buffer.from(bytes)
}
const field = (num: number, value: Buffer) => Buffer.concat([varint((num << 3) | 2), varint(value.length), value])
const str = (num: number, s: string) => field(num, Buffer.from(s, 'utf8'))

/** envoy.service.discovery.v3.DiscoveryRequest{node: {id, cluster}, type_url}. */
export function encodeDiscoveryRequest(typeUrl: string, nodeId: string): Buffer {
  return Buffer.concat([field(2, Buffer.concat([str(1, nodeId), str(2, 'e2e')])), str(4, typeUrl)])
}

export interface DiscoveryResponse {
  readonly versionInfo: string
  readonly resources: number
  readonly typeUrl: string
}

export function decodeDiscoveryResponse(buf: Buffer): DiscoveryResponse {
  let pos = 0
  const readVarint = () => {
    let result = 0
    let shift = 0
    for (;;) {
      const byte = buf[pos++] ?? 0
      result += (byte & 0x7f) * 2 ** shift
      if ((byte & 0x80) === 0) return result
      shift += 7
    }
  }
  const out = { versionInfo: '', resources: 0, typeUrl: '' }
  while (pos < buf.length) {
    const tag = readVarint()
    const wire = tag & 7
    if (wire === 0) readVarint()
    else if (wire === 2) {
      const len = readVarint()
      const value = buf.subarray(pos, pos + len)
      pos += len
      if (tag >>> 3 === 1) out.versionInfo = value.toString('utf8')
      if (tag >>> 3 === 2) out.resources++
      if (tag >>> 3 === 4) out.typeUrl = value.toString('utf8')
    } else throw new Error(`unexpected protobuf wire type ${wire}`)
  }
  return out
}

const ADS = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources'

/** Opens the ADS stream, sends one DiscoveryRequest, resolves with the first DiscoveryResponse. */
export function fetchResources(port: number, tls: ClientTls, typeUrl: string, timeoutMs = 30_000): Promise<DiscoveryResponse & { grpcContentType: string }> {
  return new Promise((resolve, reject) => {
    const { session, socket } = openSession(port, tls)
    const finish = (err: Error | undefined, value?: DiscoveryResponse & { grpcContentType: string }) => {
      clearTimeout(timer)
      session.destroy()
      socket.destroy()
      if (err !== undefined) reject(err)
      else if (value !== undefined) resolve(value)
    }
    const timer = setTimeout(() => finish(new Error(`no DiscoveryResponse within ${timeoutMs} ms`)), timeoutMs)
    session.on('error', (err) => finish(err))
    const stream = session.request({ ':method': 'POST', ':path': ADS, 'content-type': 'application/grpc', te: 'trailers' })
    let contentType = ''
    let buffered = Buffer.alloc(0)
    stream.on('response', (headers) => {
      contentType = String(headers['content-type'] ?? '')
      if (headers[':status'] !== 200) finish(new Error(`HTTP ${String(headers[':status'])}`))
    })
    stream.on('trailers', (trailers) => finish(new Error(`stream ended: grpc-status ${String(trailers['grpc-status'])} ${String(trailers['grpc-message'] ?? '')}`)))
    stream.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk])
      if (buffered.length < 5) return
      const length = buffered.readUInt32BE(1)
      if (buffered.length < 5 + length) return
      finish(undefined, { ...decodeDiscoveryResponse(buffered.subarray(5, 5 + length)), grpcContentType: contentType })
    })
    stream.on('error', (err) => finish(err))
    const message = encodeDiscoveryRequest(typeUrl, 'e2e-envoy')
    const frame = Buffer.alloc(5)
    frame.writeUInt32BE(message.length, 1)
    stream.write(Buffer.concat([frame, message]))
  })
}
