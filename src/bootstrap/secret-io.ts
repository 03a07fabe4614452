// The writes of ensure-secrets, which report a lost race instead of throwing, and the wording of
// its log lines. (Consistent reads of the three Secrets live in ensure-secrets.ts.)
import { X509Certificate } from 'node:crypto'
import type { CertificateSet } from '../core/certs/types.ts'
import type { RoundReason } from './plan-secrets.ts'
import type { StoredSecret } from './secret-model.ts'
import { isStoreError } from './secret-store.ts'

export type Call = <T>(what: string, op: () => Promise<T>) => Promise<T>
export type EnsureOutcome = 'used' | 'created' | 'renewed' | 'rotated' | 'revoked' | 'staged' | 'switched' | 'dropped' | 'adopted'

/** A write that lost a race (409 either way, or 404 on replace) answers undefined: read again. */
export async function tryWrite(
  what: string,
  op: () => Promise<StoredSecret>,
  call: Call,
  log: (line: string) => void,
  pause: () => Promise<void>,
): Promise<StoredSecret | undefined> {
  try {
    const written = await call(what, op)
    log(`${what}: done`)
    return written
  } catch (err) {
    if (!isStoreError(err, 'already-exists', 'conflict', 'not-found')) throw err
    log(`${what}: ${err.kind === 'already-exists' ? 'already exists' : err.kind === 'conflict' ? 'changed meanwhile' : 'gone meanwhile'}; reading it again`)
    // A short jittered pause keeps racing replicas from re-reading in lockstep.
    await pause()
    return undefined
  }
}

export function describeSet(set: CertificateSet, fingerprint: (set: CertificateSet) => string): { fingerprint: string; notAfter: Date } {
  const notAfter = [set.caCert, set.contourCert, set.envoyCert]
    .map((pem) => new X509Certificate(pem).validToDate)
    .reduce((a, b) => (a < b ? a : b))
  return { fingerprint: fingerprint(set), notAfter }
}

export function roundText(reason: RoundReason): string {
  const texts: Record<RoundReason, string> = {
    missing: 'the Secrets do not exist',
    incomplete: 'some of the Secrets are missing',
    invalid: 'the Secrets hold no valid set',
    renewal: 'the set is due for renewal',
    rotation: 'rotation requested',
    revocation: 'revocation requested',
    migration: 'taking over contour certgen\'s set without an outage',
    takeover: 'taking over a set another replica left half-written',
  }
  return texts[reason]
}

export function outcomeText(outcome: EnsureOutcome): string {
  return {
    used: 'using the existing',
    created: 'created a new',
    renewed: 'renewed the',
    rotated: 'rotated to a new',
    revoked: 'revoked the old set for a new',
    staged: 'staged the next leaves beside the',
    switched: 'switched to the next leaves in the',
    dropped: 'dropped expired trust from the',
    adopted: 'adopted another replica\'s',
  }[outcome]
}

