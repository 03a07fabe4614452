// Decides whether a pod is injected and in which role, before any names are checked. The
// order of the checks is the order of the design's skip list: the cheap, silent reasons first,
// then the ones that look like a mistake and deserve a warning.
import { ArgvKinds, classifyArgv } from './argv.ts'
import { planExistingTls } from './plan-take-over.ts'
import type { TakeOver } from './plan-take-over.ts'
import type { ContainerView, PodView } from './read-pod.ts'
import { describeContainer, skipPod } from './skip.ts'
import type { Skip } from './skip.ts'
import { Annotations, INIT_CONTAINER_NAME, SkipReasons } from './types.ts'
import type { InjectionSettings, PodRole } from './types.ts'

export interface PodPlan {
  readonly role: PodRole
  readonly serve: readonly ContainerView[]
  readonly bootstrap: readonly ContainerView[]
  readonly envoy: readonly ContainerView[]
  /** Set when the pod's existing TLS is taken over. */
  readonly takeOver: TakeOver | undefined
}

export type Analysis = Skip | { readonly outcome: 'inject'; readonly plan: PodPlan }

export function analyzePod(view: PodView, settings: InjectionSettings): Analysis {
  const annotations = view.annotations ?? {}
  if (isOptOut(annotations[Annotations.inject])) return skipPod(SkipReasons.optedOut)
  const status = annotations[Annotations.status]
  const initContainers = view.initContainers ?? []
  if ((typeof status === 'string' && status.startsWith('injected')) || initContainers.some(isInjectedInit)) {
    return skipPod(SkipReasons.alreadyInjected)
  }
  const clash = view.containers.find(isInjectedInit)
  if (clash !== undefined) {
    return skipPod(SkipReasons.containerNameTaken, `${describeContainer(clash)} already uses the init container's name`)
  }

  // One pass, no intermediate lists: this runs on every admission.
  const serve: ContainerView[] = []
  const bootstrap: ContainerView[] = []
  const envoy: ContainerView[] = []
  for (const list of [initContainers, view.containers]) {
    for (const container of list) {
      const kind = container.argv === undefined ? ArgvKinds.other : classifyArgv(container.argv)
      if (kind === ArgvKinds.shellWrapped) {
        return skipPod(
          SkipReasons.shellWrapped,
          `${describeContainer(container)} starts contour or envoy through a shell or launcher; ` +
            'the injector never rewrites scripts, so put the argv in command/args',
        )
      }
      if (kind === ArgvKinds.contourServe) serve.push(container)
      else if (kind === ArgvKinds.contourBootstrap) bootstrap.push(container)
      else if (kind === ArgvKinds.envoy) envoy.push(container)
    }
  }
  if (serve.length + bootstrap.length + envoy.length === 0) return skipPod(SkipReasons.notContourOrEnvoy)

  const existing = planExistingTls(view, serve, bootstrap, settings)
  if (existing.outcome === 'skip') return existing

  const role: PodRole = serve.length === 0 ? 'envoy' : bootstrap.length + envoy.length === 0 ? 'contour' : 'co-located'
  const takeOver = existing.outcome === 'take-over' ? existing.takeOver : undefined
  return { outcome: 'inject', plan: { role, serve, bootstrap, envoy, takeOver } }
}

// Istio reads its inject annotation loosely too; a stray capital must not inject a pod whose
// owner said no.
function isOptOut(value: unknown): boolean {
  return typeof value === 'string' && value.trim().toLowerCase() === 'false'
}

function isInjectedInit(container: ContainerView): boolean {
  return container.name === INIT_CONTAINER_NAME
}
