// What `contour-tls-injector status` reports, computed from the Secrets alone: every set in a
// namespace (one per instance: `contour-ca<S>` with `contour-tls<S>` and `envoy-tls<S>`), the
// CAs of its trust bundle, the leaves' expiry, its state, the rotation tokens, and what comes
// next and when. Pure: the Secrets and the clock in, plain data out.
import { X509Certificate } from 'node:crypto'
import { checkCertificateSet, DEFAULT_RENEW_FRACTION } from '../core/certs/check-set.ts'
import { fingerprintDers } from '../core/certs/fingerprint.ts'
import { splitCertificates } from '../core/certs/pem-bundle.ts'
import { DEFAULT_PROPAGATION_DELAY_MS } from '../bootstrap/plan-secrets.ts'
import { SecretAnnotations, RequestAnnotations, isManaged, parseHistory, readRoundRecord, recordedTokens, stateFromSecrets, textOf, type SecretNames, type StoredSecret } from '../bootstrap/secret-model.ts'
import { nextStep } from '../core/rotation/next-step.ts'
import { notAfterOf, phaseOf } from '../core/rotation/trust-state.ts'

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
  /** stable, trusting (next leaves staged), overlap (older CAs still trusted), or unknown. */
  readonly phase: string
  readonly phaseSince?: string
  /** Next leaves waiting for the switch. */
  readonly stagedContourLeaf?: CertSummary
  /** Requests on the CA Secret not yet honoured. */
  readonly pending: { readonly rotate?: string; readonly revoke?: string }
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
    return { ...common, phase: 'unknown', pending: {}, health: 'incomplete', detail: `missing: ${missing.join(', ')}`, next: { what: 'the next Contour pod start creates the missing Secrets (a new set)' } }
  }
  const set = {
    caCert: caText,
    contourCert: textOf(contour, 'tls.crt') ?? '',
    contourKey: textOf(contour, 'tls.key') ?? '',
    envoyCert: textOf(envoy, 'tls.crt') ?? '',
    envoyKey: textOf(envoy, 'tls.key') ?? '',
  }
  const read = { ca, contour, envoy }
  const loaded = stateFromSecrets(read)
  const record = readRoundRecord(ca)
  const { seen } = recordedTokens(read)
  const rotate = (ca?.annotations[RequestAnnotations.rotate] ?? '').trim()
  const revoke = (ca?.annotations[RequestAnnotations.revoke] ?? '').trim()
  const pending = {
    ...(rotate !== '' && !seen.has(rotate) ? { rotate } : {}),
    ...(revoke !== '' && !record.revokeTokenHistory.includes(revoke) ? { revoke } : {}),
  }
  const lifecycle = {
    phase: 'state' in loaded ? phaseOf(loaded.state) : 'unknown',
    ...(record.phaseSince === undefined ? {} : { phaseSince: new Date(record.phaseSince).toISOString() }),
    ...optionalLeaf('stagedContourLeaf', 'state' in loaded ? loaded.state.staged?.contour.cert : undefined),
    pending,
  }
  const check = checkCertificateSet(set, { now, renewFraction })
  const health = check.ok ? 'ok' : check.reason
  const detail = check.ok ? {} : { detail: check.detail }
  if (ca?.annotations[SecretAnnotations.setState] === 'writing') {
    return { ...common, ...lifecycle, health, ...detail, next: { what: `a writer is in the middle of its ${record.step ?? 'issue'} step; it finishes, or another replica takes over after 20s` } }
  }
  if (!('state' in loaded) || !isManaged(ca as StoredSecret)) {
    return { ...common, ...lifecycle, health, ...detail, next: { what: check.ok ? 'nothing: the set was not created by contour-tls-injector' : `the next Contour pod start replaces the set (${health})` } }
  }
  const decision = nextStep({
    state: loaded.state,
    phaseSince: record.phaseSince,
    now: now.getTime(),
    check: (candidate) => checkCertificateSet(candidate, { now, renewFraction }),
    propagationDelayMs: DEFAULT_PROPAGATION_DELAY_MS,
    rotationRequested: pending.rotate !== undefined,
    revocationRequested: pending.revoke !== undefined,
  })
  const stepWords = { issue: 'a whole new set', 'add-trust': 'trust a next CA beside the current one and stage its leaves', switch: 'switch both leaves to the next CA', drop: 'drop CAs that have expired from the trust bundle' } as const
  if (decision.kind === 'step') {
    return { ...common, ...lifecycle, health, ...detail, next: { what: `due now: ${stepWords[decision.step]} (${decision.reason}); the sidecar's next pass, or the next Contour pod start, does it` } }
  }
  const at = decision.nextAt
  const what =
    loaded.state.staged !== undefined
      ? stepWords.switch
      : at !== undefined && loaded.state.bundle.slice(1).some((pem) => notAfterOf(pem) === at)
        ? stepWords.drop
        : `renewal: ${stepWords['add-trust']}, then switch a propagation delay later`
  return { ...common, ...lifecycle, health, ...detail, next: { what, ...(at === undefined ? {} : { at: new Date(at).toISOString() }) } }
}

function optionalLeaf<K extends 'contourLeaf' | 'envoyLeaf' | 'stagedContourLeaf'>(key: K, pem: string | undefined): Partial<Record<K, CertSummary>> {
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
    lines.push(`  phase:    ${set.phase}${set.phaseSince === undefined ? '' : ` since ${set.phaseSince}`}`)
    lines.push(`  trust:    ${set.cas.length} CA${set.cas.length === 1 ? '' : 's'} in ca.crt`)
    for (const [i, ca] of set.cas.entries()) {
      lines.push(`    ${i + 1}. ${ca.subject}  sha256 ${ca.fingerprint}  until ${ca.notAfter}${i === 0 ? '  (signs the leaves)' : '  (trusted during an overlap)'}`)
    }
    for (const [label, leaf] of [['contour', set.contourLeaf], ['envoy', set.envoyLeaf]] as const) {
      if (leaf !== undefined) lines.push(`  ${label.padEnd(8)}  ${leaf.subject}  sha256 ${leaf.fingerprint}  until ${leaf.notAfter}`)
    }
    if (set.stagedContourLeaf !== undefined) lines.push(`  staged    ${set.stagedContourLeaf.subject}  sha256 ${set.stagedContourLeaf.fingerprint}  until ${set.stagedContourLeaf.notAfter}  (waits for the switch)`)
    lines.push(`  tokens:   rotate "${set.rotateToken}"; honoured ${set.honouredTokens.length === 0 ? 'none' : set.honouredTokens.map((t) => `"${t}"`).join(', ')}`)
    const asked = [set.pending.rotate === undefined ? '' : `rotate "${set.pending.rotate}"`, set.pending.revoke === undefined ? '' : `revoke "${set.pending.revoke}"`].filter((x) => x !== '')
    if (asked.length > 0) lines.push(`  pending:  ${asked.join(', ')}`)
    lines.push(`  next:     ${set.next.what}${set.next.at === undefined ? '' : `: ${set.next.at}`}`)
  }
  return `${lines.join('\n')}\n`
}
