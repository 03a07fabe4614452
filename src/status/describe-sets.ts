// What `contour-tls-injector status` reports, computed from the Secrets alone: every set in a
// namespace (one per instance: `contour-ca<S>` with `contour-tls<S>` and `envoy-tls<S>`), the
// CAs of its trust bundle, the leaves' expiry, its state, the rotation tokens, and what comes
// next and when. Pure: the Secrets and the clock in, plain data out.
import { X509Certificate } from 'node:crypto'
import { checkCertificateSet, DEFAULT_RENEW_FRACTION } from '../core/certs/check-set.ts'
import { fingerprintDers } from '../core/certs/fingerprint.ts'
import { splitCertificates } from '../core/certs/pem-bundle.ts'
import { SecretAnnotations, isManaged, parseHistory, textOf, type SecretNames, type StoredSecret } from '../bootstrap/secret-model.ts'

export interface CertSummary {
  readonly subject: string
  /** Hex SHA-256 of the DER, the first 16 characters. */
  readonly fingerprint: string
  readonly notBefore: string
  readonly notAfter: string
}

export interface SetStatus {
  /** certgen's suffix the set carries ('' for the plain set). */
  readonly instance: string
  readonly secrets: SecretNames
  /** Secrets of the set that do not exist. */
  readonly missing: readonly string[]
  /** `ok`, or the check's reason (`expired`, `renewal-due`, `not-signed-by-ca`, ...), or `incomplete`. */
  readonly health: string
  readonly detail?: string
  /** The CA Secret's `set-state` (`complete`, or `writing` while a writer still writes the leaves). */
  readonly state: string
  readonly writtenAt?: string
  /** The bundle in `ca.crt`: the CA that signed the leaves first, then CAs still trusted. */
  readonly cas: readonly CertSummary[]
  readonly contourLeaf?: CertSummary
  readonly envoyLeaf?: CertSummary
  readonly rotateToken: string
  readonly honouredTokens: readonly string[]
  /** What happens next, and when (ISO time), in words. */
  readonly next: { readonly what: string; readonly at?: string }
}

export function describeSets(secrets: readonly StoredSecret[], names: SecretNames, now: Date, renewFraction = DEFAULT_RENEW_FRACTION): SetStatus[] {
  const byName = new Map(secrets.map((secret) => [secret.name, secret]))
  const instances = new Set<string>()
  for (const secret of secrets) {
    if (!isManaged(secret)) continue
    for (const base of [names.ca, names.contour, names.envoy]) if (secret.name.startsWith(base)) instances.add(secret.name.slice(base.length))
  }
  return [...instances].sort().map((instance) => describeSet(byName, names, instance, now, renewFraction))
}

function describeSet(byName: ReadonlyMap<string, StoredSecret>, base: SecretNames, instance: string, now: Date, renewFraction: number): SetStatus {
  const secrets = { contour: `${base.contour}${instance}`, envoy: `${base.envoy}${instance}`, ca: `${base.ca}${instance}` }
  const ca = byName.get(secrets.ca)
  const contour = byName.get(secrets.contour)
  const envoy = byName.get(secrets.envoy)
  const missing = [ca, contour, envoy].flatMap((secret, i) => (secret === undefined ? [[secrets.ca, secrets.contour, secrets.envoy][i] as string] : []))
  const caText = textOf(ca, 'ca.crt') ?? textOf(contour, 'ca.crt') ?? ''
  const anchor = ca ?? contour ?? envoy
  const annotations = anchor?.annotations ?? {}
  const common = {
    instance,
    secrets,
    missing,
    state: ca?.annotations[SecretAnnotations.setState] ?? (ca === undefined ? 'missing' : 'unknown'),
    ...(annotations[SecretAnnotations.writtenAt] === undefined ? {} : { writtenAt: annotations[SecretAnnotations.writtenAt] }),
    cas: splitCertificates(caText).flatMap((pem) => summarize(pem) ?? []),
    ...optionalLeaf('contourLeaf', textOf(contour, 'tls.crt')),
    ...optionalLeaf('envoyLeaf', textOf(envoy, 'tls.crt')),
    rotateToken: annotations[SecretAnnotations.rotateToken] ?? '',
    honouredTokens: parseHistory(annotations[SecretAnnotations.rotateTokenHistory]),
  }
  if (missing.length > 0 || contour === undefined || envoy === undefined) {
    return { ...common, health: 'incomplete', detail: `missing: ${missing.join(', ')}`, next: { what: 'the next Contour pod start creates the missing Secrets (a new set)' } }
  }
  const set = {
    caCert: caText,
    contourCert: textOf(contour, 'tls.crt') ?? '',
    contourKey: textOf(contour, 'tls.key') ?? '',
    envoyCert: textOf(envoy, 'tls.crt') ?? '',
    envoyKey: textOf(envoy, 'tls.key') ?? '',
  }
  const check = checkCertificateSet(set, { now, renewFraction })
  if (check.ok) {
    return { ...common, health: 'ok', next: { what: 'renewal (a new set) at the first Contour pod start from this time', at: check.renewAt.toISOString() } }
  }
  const next =
    check.reason === 'renewal-due'
      ? { what: 'renewal is due: the next Contour pod start writes a new set (kubectl rollout restart the Contour Deployment)' }
      : { what: `the next Contour pod start replaces the set (${check.reason})` }
  return { ...common, health: check.reason, detail: check.detail, next }
}

function optionalLeaf<K extends 'contourLeaf' | 'envoyLeaf'>(key: K, pem: string | undefined): Partial<Record<K, CertSummary>> {
  const summary = pem === undefined ? undefined : summarize(pem)
  return summary === undefined ? {} : ({ [key]: summary } as Partial<Record<K, CertSummary>>)
}

function summarize(pem: string): CertSummary | undefined {
  try {
    const cert = new X509Certificate(pem)
    return {
      subject: cert.subject.replace(/\n/g, ', '),
      fingerprint: fingerprintDers([cert.raw]).slice(0, 16),
      notBefore: cert.validFromDate.toISOString(),
      notAfter: cert.validToDate.toISOString(),
    }
  } catch {
    return undefined
  }
}

/** The report as text: one block per set. */
export function formatStatus(namespace: string, sets: readonly SetStatus[]): string {
  if (sets.length === 0) return `namespace ${namespace}: no set managed by contour-tls-injector\n`
  const lines: string[] = []
  for (const set of sets) {
    lines.push(`set ${set.secrets.ca}, ${set.secrets.contour}, ${set.secrets.envoy} in ${namespace}${set.instance === '' ? '' : ` (instance ${set.instance})`}`)
    lines.push(`  health:   ${set.health}${set.detail === undefined ? '' : ` (${set.detail})`}`)
    lines.push(`  state:    ${set.state}${set.writtenAt === undefined ? '' : `, written ${set.writtenAt}`}`)
    lines.push(`  trust:    ${set.cas.length} CA${set.cas.length === 1 ? '' : 's'} in ca.crt`)
    for (const [i, ca] of set.cas.entries()) {
      lines.push(`    ${i + 1}. ${ca.subject}  sha256 ${ca.fingerprint}  until ${ca.notAfter}${i === 0 ? '  (signs the leaves)' : '  (trusted during an overlap)'}`)
    }
    for (const [label, leaf] of [['contour', set.contourLeaf], ['envoy', set.envoyLeaf]] as const) {
      if (leaf !== undefined) lines.push(`  ${label.padEnd(8)}  ${leaf.subject}  sha256 ${leaf.fingerprint}  until ${leaf.notAfter}`)
    }
    lines.push(`  tokens:   rotate "${set.rotateToken}"; honoured ${set.honouredTokens.length === 0 ? 'none' : set.honouredTokens.map((t) => `"${t}"`).join(', ')}`)
    lines.push(`  next:     ${set.next.what}${set.next.at === undefined ? '' : `: ${set.next.at}`}`)
  }
  return `${lines.join('\n')}\n`
}
