// `--sidecar --metrics-port`: the lifecycle metrics (lifecycle-metrics.ts) over plain HTTP,
// `GET /metrics` only, for Prometheus to scrape from the Contour pod. node:http, nothing else: the
// sidecar must stay small. The figures carry no secret (times, counts, a Secret's name).
import { createServer, type Server } from 'node:http'

export interface MetricsServer {
  readonly port: number
  close(): Promise<void>
}

export async function startMetricsServer(port: number, render: () => string, host = '0.0.0.0'): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: GET /metrics\n')
      return
    }
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(render())
  })
  server.keepAliveTimeout = 5000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => resolve())
  })
  const address = server.address()
  return {
    port: typeof address === 'object' && address !== null ? address.port : port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
