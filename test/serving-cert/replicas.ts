// In-process webhook replicas for the self-mode tests, and a look at the certificate each serves.
import { X509Certificate } from 'node:crypto'
import { connect } from 'node:tls'
import { freePort } from '../helpers/https-client.ts'
import { runWebhook } from '../../src/webhook/main.ts'
import type { SelfModeTuning } from '../../src/serving-cert/start-self.ts'

export interface Replica {
  readonly port: number
  readonly exited: Promise<number>
  stderr(): string
  stop(): Promise<number>
}

export { freePort }

export function startReplica(port: number, args: readonly string[], tuning?: SelfModeTuning): Replica {
  const stop = new AbortController()
  let stderr = ''
  const exited = runWebhook(
    ['--serving-cert-mode=self', '--host=127.0.0.1', `--port=${port}`, '--drain-seconds=0', '--log-level=warn', ...args],
    { stdout: { write: () => true }, stderr: { write: (s: string) => (stderr += s) }, env: {}, stopSignal: stop.signal },
    { servingCert: tuning },
  )
  return {
    port,
    exited,
    stderr: () => stderr,
    async stop() {
      stop.abort('SIGTERM')
      return exited
    },
  }
}

/** The certificate a TLS client is shown on 127.0.0.1:port (not verified here: callers check it). */
export function servedCertificate(port: number): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const raw = socket.getPeerCertificate().raw
      socket.end()
      resolve(new X509Certificate(raw))
    })
    socket.setTimeout(3000, () => socket.destroy(new Error('TLS handshake timed out')))
    socket.on('error', reject)
  })
}

/** Polls until the replica answers a handshake; fails early if it exits. */
export async function waitServing(replica: Replica, timeoutMs = 60_000): Promise<X509Certificate> {
  const deadline = Date.now() + timeoutMs
  let exited: number | undefined
  void replica.exited.then((code) => (exited = code))
  for (;;) {
    if (exited !== undefined) throw new Error(`the replica exited with ${exited}: ${replica.stderr()}`)
    try {
      return await servedCertificate(replica.port)
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`replica on port ${replica.port} not serving after ${timeoutMs} ms: ${(err as Error).message} ${replica.stderr()}`, { cause: err })
      await new Promise((r) => setTimeout(r, 100))
    }
  }
}

/** A bare Contour pod: `contour serve` is what the webhook injects into. */
export function contourPod(name: string): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name },
    spec: { containers: [{ name: 'contour', image: 'ghcr.io/projectcontour/contour:v1.33.0', command: ['contour'], args: ['serve', '--incluster', '--insecure'] }] },
  }
}
