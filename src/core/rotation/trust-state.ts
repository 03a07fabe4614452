// What the three Secrets hold, seen as one trust state, and the pure steps of the phased rotation
// (design.md, "Certificate lifecycle"):
//
//   stable     bundle [S]            leaves signed by S
//   add-trust  bundle [S, N]         leaves signed by S, next leaves (signed by N) staged beside them
//   switch     bundle [N, S]         leaves signed by N; S still trusted
//   drop       bundle [N]            once S has expired (its leaves with it), or at once on revocation
//
// A state never holds a CA key: N's key is gone once the staged leaves are signed. Native crypto
// only (node:crypto), so the init container's start-up path does not load node-forge.
import { createHash, X509Certificate } from 'node:crypto'
import { joinCertificates, splitCertificates } from '../certs/pem-bundle.ts'
import type { CertificateSet } from '../certs/types.ts'

export interface LeafPair {
  readonly cert: string
  readonly key: string
}

export interface TrustState {
  /** Every CA trusted, as PEM; the one that signed `contour` and `envoy` first. */
  readonly bundle: readonly string[]
  readonly contour: LeafPair
  readonly envoy: LeafPair
  /** The next leaves, signed by a CA of the bundle other than the first, waiting for the switch. */
  readonly staged?: { readonly contour: LeafPair; readonly envoy: LeafPair }
}

export const STEP_KINDS = ['issue', 'add-trust', 'switch', 'drop'] as const
export type StepKind = (typeof STEP_KINDS)[number]
export const PHASES = ['stable', 'trusting', 'overlap'] as const
export type Phase = (typeof PHASES)[number]

/** Hex SHA-256 of a certificate's DER: how a CA is named in annotations and logs. */
export function certId(pem: string): string {
  return createHash('sha256').update(new X509Certificate(pem).raw).digest('hex')
}

/** stable: one CA; trusting: next leaves staged; overlap: leaves switched, older CAs still trusted. */
export function phaseOf(state: Pick<TrustState, 'bundle' | 'staged'>): Phase {
  if (state.staged !== undefined) return 'trusting'
  return state.bundle.length > 1 ? 'overlap' : 'stable'
}

/** A whole new set, trusting only its own CA: first set, broken set, or revocation. */
export function issueFresh(fresh: CertificateSet): TrustState {
  return {
    bundle: [normalise(fresh.caCert)],
    contour: { cert: fresh.contourCert, key: fresh.contourKey },
    envoy: { cert: fresh.envoyCert, key: fresh.envoyKey },
  }
}

/**
 * Step (a): trust the fresh CA beside the current ones and stage the fresh leaves. A staged
 * round that is replaced (a rotation asked for meanwhile, or its writer died before staging)
 * takes its CA with it: nothing in use was signed by it.
 */
export function addTrust(state: TrustState, fresh: CertificateSet, abandonedCa?: string): TrustState {
  const drop = new Set<string>()
  if (abandonedCa !== undefined) drop.add(abandonedCa)
  const stagedCa = state.staged ? signerIn(state.bundle, state.staged.contour.cert) : undefined
  if (stagedCa !== undefined) drop.add(certId(stagedCa))
  const kept = state.bundle.filter((pem, i) => i === 0 || !drop.has(certId(pem)))
  return {
    bundle: [...kept, normalise(fresh.caCert)],
    contour: state.contour,
    envoy: state.envoy,
    staged: { contour: { cert: fresh.contourCert, key: fresh.contourKey }, envoy: { cert: fresh.envoyCert, key: fresh.envoyKey } },
  }
}

/** Step (b): the staged leaves become the leaves; their CA moves to the front; every CA stays trusted. */
export function switchLeaves(state: TrustState): TrustState {
  if (state.staged === undefined) throw new Error('switchLeaves: nothing is staged')
  const next = signerIn(state.bundle, state.staged.contour.cert)
  if (next === undefined) throw new Error('switchLeaves: the staged leaves are signed by no CA of the bundle')
  return { bundle: [next, ...state.bundle.filter((pem) => pem !== next)], contour: state.staged.contour, envoy: state.staged.envoy }
}

/** Step (c): trust only CAs that still vouch for something: the signer, the staged CA, and unexpired others. */
export function dropExpired(state: TrustState, now: number): TrustState {
  const stagedCa = state.staged ? signerIn(state.bundle, state.staged.contour.cert) : undefined
  const bundle = state.bundle.filter((pem, i) => i === 0 || pem === stagedCa || notAfterOf(pem) > now)
  return { ...state, bundle }
}

/** The non-first CAs of the bundle that have expired at `now` (what dropExpired removes). */
export function expiredTrust(state: TrustState, now: number): string[] {
  const stagedCa = state.staged ? signerIn(state.bundle, state.staged.contour.cert) : undefined
  return state.bundle.filter((pem, i) => i > 0 && pem !== stagedCa && notAfterOf(pem) <= now)
}

/** The CA of the bundle that signed `leafPem`, if any. */
export function signerIn(bundle: readonly string[], leafPem: string): string | undefined {
  let leaf: X509Certificate
  try {
    leaf = new X509Certificate(leafPem)
  } catch {
    return undefined
  }
  return bundle.find((pem) => {
    const ca = new X509Certificate(pem)
    return leaf.checkIssued(ca) && leaf.verify(ca.publicKey)
  })
}

export function notAfterOf(pem: string): number {
  return new X509Certificate(pem).validToDate.getTime()
}

export function bundleText(bundle: readonly string[]): string {
  return joinCertificates(bundle)
}

export function parseBundle(text: string): string[] {
  return splitCertificates(text)
}

/** The current set of a state, as the certificate checks take it. */
export function currentSet(state: TrustState): CertificateSet {
  return {
    caCert: bundleText(state.bundle),
    contourCert: state.contour.cert,
    contourKey: state.contour.key,
    envoyCert: state.envoy.cert,
    envoyKey: state.envoy.key,
  }
}

/** The set the switch would produce, for checking staged leaves before relying on them. */
export function stagedSet(state: TrustState): CertificateSet | undefined {
  return state.staged ? currentSet(switchLeaves(state)) : undefined
}

function normalise(pem: string): string {
  return splitCertificates(pem)[0] ?? pem.trim()
}
