// What both credential loaders share and neither needs @kubernetes/client-node for: the service
// account directory, the account a token names, and where the namespace comes from.
import { readFileSync } from 'node:fs'
import { ErrorCodes, InjectorError } from '../errors.ts'

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount'

/** `ns:name` from a service account JWT's `sub` claim (`system:serviceaccount:<ns>:<name>`). */
export function serviceAccountFromToken(token: string): string | undefined {
  const payload = token.trim().split('.')[1]
  if (payload === undefined) return undefined
  try {
    const claims: unknown = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'))
    const sub = typeof claims === 'object' && claims !== null ? (claims as { sub?: unknown }).sub : undefined
    const match = typeof sub === 'string' ? /^system:serviceaccount:([^:]+):([^:]+)$/.exec(sub) : null
    return match ? `${match[1]}:${match[2]}` : undefined
  } catch {
    return undefined
  }
}

/** How 401/403 messages name whoever a token belongs to. */
export function identityOfToken(token: string | undefined, otherwise: string): string {
  const subject = token === undefined ? undefined : serviceAccountFromToken(token)
  return subject ? `service account "${subject}"` : otherwise
}

/** The first namespace given: --namespace/POD_NAMESPACE, the service account's, the kubeconfig context's. */
export function pickNamespace(...candidates: Array<string | undefined>): string {
  const namespace = candidates.find((c) => c !== undefined && c !== '')
  if (namespace === undefined) {
    throw new InjectorError(ErrorCodes.ERR_CONFIG, 'no namespace: give --namespace, set POD_NAMESPACE, or run with a service account')
  }
  return namespace
}

export function readOptional(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return undefined
  }
}

/** The in-cluster API address (`KUBERNETES_SERVICE_HOST`/`_PORT`), IPv6 literals bracketed. */
export function inClusterServer(host: string, port: string): string {
  return `https://${host.includes(':') ? `[${host}]` : host}:${port}`
}
