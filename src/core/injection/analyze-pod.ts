// Decides whether a pod is injected and in which role, before any names are checked. The
// order of the checks is the order of the design's skip list: the cheap, silent reasons first,
// then the ones that look like a mistake and deserve a warning.
import { ArgvKinds, classifyArgv } from './argv.ts'
import { readEnvNames } from './read-pod.ts'
import type { ContainerView, PodView } from './read-pod.ts'
import { findTlsFlags } from './tls-flags.ts'
import type { TlsCommand } from './tls-flags.ts'
import { Annotations, INIT_CONTAINER_NAME, SkipReasons } from './types.ts'
import type { PodRole, SkipReason } from './types.ts'

export interface PodPlan {
  readonly role: PodRole
  readonly serve: readonly ContainerView[]
  readonly bootstrap: readonly ContainerView[]
  readonly envoy: readonly ContainerView[]
}

export interface Skip {
  readonly outcome: 'skip'
  readonly reason: SkipReason
  /** What the warning says after the reason; only for the reasons that warn. */
  readonly detail?: string
}

export type Analysis = Skip | { readonly outcome: 'inject'; readonly plan: PodPlan }

export function skipPod(reason: SkipReason, detail?: string): Skip {
  return detail === undefined ? { outcome: 'skip', reason } : { outcome: 'skip', reason, detail }
}

/** How warnings name a container: its name, or its place when it has none. */
export function describeContainer(container: ContainerView): string {
  return container.name === undefined || container.name === ''
    ? `${container.list}[${container.index}]`
    : `container "${container.name}"`
}

export function analyzePod(view: PodView): Analysis {
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

  const tlsSkip = checkExistingTls(serve, bootstrap)
  if (tlsSkip !== undefined) return tlsSkip

  const role: PodRole = serve.length === 0 ? 'envoy' : bootstrap.length + envoy.length === 0 ? 'contour' : 'co-located'
  return { outcome: 'inject', plan: { role, serve, bootstrap, envoy } }
}

// Istio reads its inject annotation loosely too; a stray capital must not inject a pod whose
// owner said no.
function isOptOut(value: unknown): boolean {
  return typeof value === 'string' && value.trim().toLowerCase() === 'false'
}

function isInjectedInit(container: ContainerView): boolean {
  return container.name === INIT_CONTAINER_NAME
}

/**
 * kingpin makes a partial set fatal, and a pod whose serve side has TLS but whose bootstrap
 * side has none cannot talk either: both are the user's half-finished setup, so warn. A pod
 * that has all of its TLS settings is the user's own working setup: leave it silently.
 */
function checkExistingTls(serve: readonly ContainerView[], bootstrap: readonly ContainerView[]): Skip | undefined {
  const stateOf = (container: ContainerView, command: TlsCommand) => ({
    container,
    state: findTlsFlags(command, container.argv ?? [], readEnvNames(container.env)),
  })
  const states = [...serve.map((container) => stateOf(container, 'serve')), ...bootstrap.map((container) => stateOf(container, 'bootstrap'))]
  for (const { container, state } of states) {
    if (state.present.length > 0 && state.missing.length > 0) {
      return skipPod(
        SkipReasons.partialTlsFlags,
        `${describeContainer(container)} sets ${state.present.join(', ')} but not ${state.missing.join(', ')}`,
      )
    }
  }
  const configured = states.find(({ state }) => state.missing.length === 0)
  if (configured === undefined) return undefined
  const unconfigured = states.find(({ state }) => state.present.length === 0)
  if (unconfigured !== undefined) {
    return skipPod(
      SkipReasons.partialTlsFlags,
      `${describeContainer(configured.container)} sets its TLS flags but ${describeContainer(unconfigured.container)} sets none`,
    )
  }
  return skipPod(SkipReasons.tlsConfigured)
}
