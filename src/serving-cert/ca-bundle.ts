// The caBundle the apiserver trusts the webhook with: pure PEM handling, no I/O.
// During a renewal the bundle holds the new CA and the one it replaced, so a replica still
// serving the previous certificate stays trusted until it has reloaded.
import { X509Certificate } from 'node:crypto'
import { splitCertificates } from '../core/certs/pem-bundle.ts'
import type { ServingMaterial } from './types.ts'

function derOf(pem: string): Buffer | undefined {
  try {
    return new X509Certificate(pem).raw
  } catch {
    return undefined
  }
}

/**
 * The bundle to publish: the current CA first, then each previous CA that still parses, is not
 * expired and is not a duplicate. Deterministic, so every replica computes the same bytes.
 */
export function buildTrustBundle(material: Pick<ServingMaterial, 'caCert' | 'previousCaCerts'>, now: Date): string {
  const current = splitCertificates(material.caCert)
  const seen: Buffer[] = []
  const out: string[] = []
  for (const [i, pem] of [...current, ...splitCertificates(material.previousCaCerts)].entries()) {
    const der = derOf(pem)
    if (der === undefined || seen.some((d) => d.equals(der))) continue
    if (i >= current.length && new X509Certificate(pem).validToDate <= now) continue
    seen.push(der)
    out.push(pem)
  }
  return out.length === 0 ? '' : out.join('\n') + '\n'
}

/** True when one of the bundle's certificates is exactly `caPem`. */
export function bundleTrusts(bundle: string, caPem: string): boolean {
  const wanted = derOf(caPem.trim())
  if (wanted === undefined) return false
  return splitCertificates(bundle).some((pem) => derOf(pem)?.equals(wanted) === true)
}

/** Same certificates in the same order (PEM formatting aside). */
export function sameBundle(a: string, b: string): boolean {
  const x = splitCertificates(a)
  const y = splitCertificates(b)
  return x.length === y.length && x.every((pem, i) => pem === y[i])
}
