// A per-call client-node middleware that abandons a request after `timeoutMs` (the caller counts
// it as "unavailable" and retries). The object-parameter API passes it to the observable layer.
import { Observable, type ObservableMiddleware, type RequestContext, type ResponseContext } from '@kubernetes/client-node'

export function timeoutMiddleware(timeoutMs: number): ObservableMiddleware {
  return {
    pre: (ctx: RequestContext) => {
      ctx.setSignal(AbortSignal.timeout(timeoutMs))
      return new Observable(Promise.resolve(ctx))
    },
    post: (res: ResponseContext) => new Observable(Promise.resolve(res)),
  }
}
