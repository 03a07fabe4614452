// The pure decision behind the self mode: given what the serving Secret holds now, use it,
// write a new one (create, or replace guarded by the resourceVersion read), or refuse.
// The same protocol as bootstrap-tls's Secrets, for one Secret: a write that loses a race gets
// a 409, and the loser reads again and adopts the winner's certificate.
import { splitCertificates } from '../core/certs/pem-bundle.ts'
import { isManaged, materialFromSecret } from './serving-secret.ts'
import type { StoredSecret } from '../bootstrap/secret-model.ts'
import type { ServingCheckResult, ServingMaterial } from './types.ts'

export type ServingWriteReason = 'missing' | 'invalid' | 'renewal'

export type ServingPlan =
  | { readonly kind: 'use'; readonly material: ServingMaterial; readonly secret: StoredSecret; readonly warnings: readonly string[] }
  /** Issue a new CA and certificate; create when `anchor` is undefined, else replace guarded by its resourceVersion. */
  | { readonly kind: 'write'; readonly reason: ServingWriteReason; readonly detail: string; readonly anchor: StoredSecret | undefined; readonly previousCaCerts: string }
  | { readonly kind: 'refuse'; readonly detail: string }

export interface ServingPlanInput {
  readonly read: StoredSecret | undefined
  readonly check: (material: ServingMaterial) => ServingCheckResult
  /** The CA of the certificate this process serves now ('' if none): still trusted after a write. */
  readonly servingCaCert: string
}

export function planServingSecret(input: ServingPlanInput): ServingPlan {
  const { read } = input
  if (read === undefined) return write('missing', '', undefined, previousCas([input.servingCaCert]))
  const pieces = materialFromSecret(read)
  const result = 'material' in pieces ? input.check(pieces.material) : undefined
  const usable = result !== undefined && (result.ok || result.reason === 'renewal-due')
  if (!isManaged(read)) {
    if ('material' in pieces && usable) {
      const warnings = result.ok ? [] : [`Secret ${read.name} is due for renewal but was not created by contour-tls-injector: using it as it is; renew it with the tool that created it`]
      return { kind: 'use', material: pieces.material, secret: read, warnings }
    }
    const why = 'material' in pieces ? (result?.ok === false ? `${result.reason}: ${result.detail}` : '') : `${pieces.missing} is missing`
    return {
      kind: 'refuse',
      detail: `Secret ${read.name} was not created by contour-tls-injector (no label app.kubernetes.io/managed-by=contour-tls-injector) and holds no usable serving certificate (${why}); fix or delete it yourself`,
    }
  }
  if (!('material' in pieces)) return write('invalid', `${pieces.missing} is missing`, read, previousCas([input.servingCaCert]))
  const previous = previousCas([pieces.material.caCert, input.servingCaCert])
  if (result === undefined || result.ok) return { kind: 'use', material: pieces.material, secret: read, warnings: [] }
  if (result.reason === 'renewal-due') return write('renewal', result.detail, read, previous)
  return write('invalid', `${result.reason}: ${result.detail}`, read, previous)
}

function write(reason: ServingWriteReason, detail: string, anchor: StoredSecret | undefined, previousCaCerts: string): ServingPlan {
  return { kind: 'write', reason, detail, anchor, previousCaCerts }
}

/** Distinct certificates among `pems`, concatenated; anything unparsable is left out later by the bundle builder. */
function previousCas(pems: readonly string[]): string {
  const all = pems.flatMap(splitCertificates)
  const distinct = all.filter((pem, i) => all.indexOf(pem) === i)
  return distinct.length === 0 ? '' : distinct.join('\n') + '\n'
}
