// A pod without what tells the bootstrap modes apart in bootstrap-tls: its sidecar fields
// (restartPolicy, startup probe, metrics port and flags) and its memory limit (a sidecar's probe
// runs a second Node in its cgroup). A sidecar-mode pod must then equal the init-mode pod.
import type { V1Pod } from '@kubernetes/client-node'
import { SIDECAR_METRICS_PORT } from '../../../../src/core/injection/build-init-container.ts'

export function withoutModeFields(pod: V1Pod): V1Pod {
  const copy = structuredClone(pod)
  const init = copy.spec?.initContainers?.[0]
  if (init !== undefined) {
    delete init.restartPolicy
    delete init.startupProbe
    delete init.ports
    init.args = init.args?.filter((arg) => arg !== '--sidecar' && arg !== `--metrics-port=${SIDECAR_METRICS_PORT}`)
    delete init.resources?.limits?.memory
  }
  return copy
}
