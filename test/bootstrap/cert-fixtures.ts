// Certificate sets for tests, issued once per process: fresh, due for renewal, expired.
import { issueCertificateSet } from '../../src/core/certs/issue-set.ts'
import type { CertificateSet } from '../../src/core/certs/types.ts'

const DAY = 24 * 60 * 60 * 1000
const cache = new Map<string, Promise<CertificateSet>>()

function cached(key: string, make: () => Promise<CertificateSet>): Promise<CertificateSet> {
  let p = cache.get(key)
  if (!p) cache.set(key, (p = make()))
  return p
}

/** A valid set for `namespace`; `n` picks one of several distinct sets. */
export function freshSet(namespace = 'test', n = 0): Promise<CertificateSet> {
  return cached(`fresh/${namespace}/${n}`, () => issueCertificateSet({ namespace }))
}

/** Valid, but less than a third of its lifetime left. */
export function renewalDueSet(namespace = 'test', n = 0): Promise<CertificateSet> {
  return cached(`due/${namespace}/${n}`, () => issueCertificateSet({ namespace, now: new Date(Date.now() - 300 * DAY) }))
}

export function expiredSet(namespace = 'test', n = 0): Promise<CertificateSet> {
  return cached(`expired/${namespace}/${n}`, () => issueCertificateSet({ namespace, now: new Date(Date.now() - 400 * DAY) }))
}

/** Every base64 and PEM-body form of the private keys, to search logs for. */
export function keyNeedles(set: CertificateSet): string[] {
  const needles: string[] = []
  for (const pem of [set.contourKey, set.envoyKey]) {
    needles.push(Buffer.from(pem).toString('base64').slice(0, 40))
    const body = pem.split('\n').filter((l) => l !== '' && !l.startsWith('-----'))
    needles.push(...body.slice(0, 3))
  }
  return needles
}
