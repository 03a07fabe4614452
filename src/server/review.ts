// AdmissionReview v1 in, AdmissionReview v1 out. Pure apart from the admission memo a caller may
// pass (src/server/admission-memo.ts): the route only adapts HTTP to these functions.
import { encodePatch } from '../core/injection/encode-patch.ts'
import type { AdmissionMemo, PodOutcome } from './admission-memo.ts'
import { injectPod } from '../core/injection/inject-pod.ts'
import { WARNED_SKIP_REASONS, type InjectionSettings, type PodRole, type SkipReason } from '../core/injection/types.ts'
import { InjectorError } from '../errors.ts'

export interface AdmissionRequest {
  readonly uid: string
  readonly kind?: { group?: string; version?: string; kind?: string }
  readonly resource?: { group?: string; version?: string; resource?: string }
  readonly subResource?: string
  readonly operation?: string
  readonly namespace?: string
  readonly name?: string
  readonly object?: unknown
}

export interface AdmissionReview {
  readonly apiVersion: string
  readonly kind: 'AdmissionReview'
  readonly request: AdmissionRequest
}

export interface AdmissionResponseBody {
  apiVersion: string
  kind: 'AdmissionReview'
  response: {
    uid: string
    allowed: true
    patchType?: 'JSONPatch'
    patch?: string
    warnings?: string[]
  }
}

/** What happened to one review, for logs and metrics. */
export type Decision =
  | { readonly outcome: 'injected'; readonly role: PodRole }
  /** Injected in place of existing TLS: the Secrets whose files it replaced. */
  | { readonly outcome: 'taken-over'; readonly role: PodRole; readonly replaced: readonly string[] }
  | { readonly outcome: 'skipped'; readonly reason: SkipReason }
  | { readonly outcome: 'ignored'; readonly reason: 'not-pod-create' }

const API_VERSION = 'admission.k8s.io/v1'

/** Validates the envelope; throws ERR_MALFORMED_REVIEW (HTTP 400) when it is not a v1 AdmissionReview. */
export function parseAdmissionReview(body: unknown): AdmissionReview {
  if (!isObject(body)) throw malformed('the body is not a JSON object')
  if (body.apiVersion !== API_VERSION) throw malformed(`apiVersion must be "${API_VERSION}"`)
  if (body.kind !== 'AdmissionReview') throw malformed('kind must be "AdmissionReview"')
  const request = body.request
  if (!isObject(request)) throw malformed('request is missing')
  if (typeof request.uid !== 'string' || request.uid === '') throw malformed('request.uid is missing')
  return body as unknown as AdmissionReview
}

export function reviewUid(body: unknown): string | undefined {
  if (!isObject(body) || !isObject(body.request)) return undefined
  return typeof body.request.uid === 'string' ? body.request.uid : undefined
}

/**
 * With a memo (built for the same settings), a pod whose engine inputs were seen before gets the
 * remembered outcome: the same decision, patch and warnings the engine gave then.
 */
export function admitReview(review: AdmissionReview, settings: InjectionSettings, memo?: AdmissionMemo): { body: AdmissionResponseBody; decision: Decision } {
  const { request } = review
  const base: AdmissionResponseBody = { apiVersion: API_VERSION, kind: 'AdmissionReview', response: { uid: request.uid, allowed: true } }
  if (!isPodCreate(request)) return { body: base, decision: { outcome: 'ignored', reason: 'not-pod-create' } }
  let outcome: PodOutcome | undefined
  if (memo !== undefined && memo.settings === settings) {
    outcome = memo.lookup(request.object)
    if (outcome === undefined) {
      outcome = decidePod(request.object, settings)
      memo.remember(request.object, outcome)
    }
  } else outcome = decidePod(request.object, settings)
  if (outcome.warnings !== undefined) base.response.warnings = [...outcome.warnings]
  if (outcome.patch !== undefined) {
    base.response.patchType = 'JSONPatch'
    base.response.patch = outcome.patch
  }
  return { body: base, decision: outcome.decision }
}

/** Runs the engine on a pod CREATE and encodes what the response needs. */
export function decidePod(pod: unknown, settings: InjectionSettings): PodOutcome {
  const result = injectPod(pod, settings)
  if (result.outcome === 'skipped') {
    const warned = WARNED_SKIP_REASONS.has(result.reason) && result.warnings.length > 0
    return { decision: { outcome: 'skipped', reason: result.reason }, ...(warned ? { warnings: result.warnings } : {}) }
  }
  const patch = Buffer.from(encodePatch(result.patch)).toString('base64')
  const decision: Decision = result.replaced.length === 0 ? { outcome: 'injected', role: result.role } : { outcome: 'taken-over', role: result.role, replaced: result.replaced }
  return { decision, patch, ...(result.warnings.length > 0 ? { warnings: result.warnings } : {}) }
}

/**
 * The response as the bytes of JSON.stringify(body) (the tests hold it to that). An injected
 * pod's response is written straight into one buffer: the base64 patch is neither scanned for
 * characters to escape nor copied into intermediate strings, and the server sends the buffer
 * as it is.
 */
export function serializeResponse(body: AdmissionResponseBody): Buffer {
  const { response } = body
  if (response.patch === undefined || response.warnings !== undefined) return Buffer.from(JSON.stringify(body))
  const head = `{"apiVersion":${JSON.stringify(body.apiVersion)},"kind":"AdmissionReview","response":{"uid":${JSON.stringify(response.uid)},"allowed":true,"patchType":"${response.patchType}","patch":"`
  const headBytes = Buffer.byteLength(head)
  const out = Buffer.allocUnsafe(headBytes + response.patch.length + RESPONSE_TAIL.length)
  out.write(head, 0)
  // Base64 is ASCII, and has nothing JSON escapes.
  out.write(response.patch, headBytes, 'latin1')
  out.write(RESPONSE_TAIL, headBytes + response.patch.length, 'latin1')
  return out
}

const RESPONSE_TAIL = '"}}'

function isPodCreate(request: AdmissionRequest): boolean {
  const isPod = request.kind?.kind === 'Pod' && (request.kind.group ?? '') === '' && (request.subResource ?? '') === ''
  return isPod && request.operation === 'CREATE'
}

/** Namespace and name for logs: controllers' pods often lack metadata.namespace and metadata.name. */
export function describeTarget(request: AdmissionRequest): { namespace: string | undefined; name: string | undefined } {
  const metadata = isObject(request.object) && isObject(request.object.metadata) ? request.object.metadata : {}
  const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined)
  return {
    namespace: str(request.namespace) ?? str(metadata.namespace),
    name: str(request.name) ?? str(metadata.name) ?? (str(metadata.generateName) === undefined ? undefined : `${str(metadata.generateName)}*`),
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function malformed(message: string): InjectorError {
  return new InjectorError('ERR_MALFORMED_REVIEW', `malformed AdmissionReview: ${message}`)
}
