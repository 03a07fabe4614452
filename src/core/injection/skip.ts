// A decision not to inject, and how warnings name a container: shared by every step of the
// analysis, so none of them imports another for it.
import type { ContainerView } from './read-pod.ts'
import type { SkipReason } from './types.ts'

export interface Skip {
  readonly outcome: 'skip'
  readonly reason: SkipReason
  /** What the warning says after the reason; only for the reasons that warn. */
  readonly detail?: string
}

export function skipPod(reason: SkipReason, detail?: string): Skip {
  return detail === undefined ? { outcome: 'skip', reason } : { outcome: 'skip', reason, detail }
}

/** How warnings name a container: its name, or its place when it has none. */
export function describeContainer(container: ContainerView): string {
  return container.name === undefined || container.name === ''
    ? `${container.list}[${container.index}]`
    : `container "${container.name}"`
}
