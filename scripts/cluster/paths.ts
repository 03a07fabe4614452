// Where everything lives: the repository's binaries and one cluster's state directory.
// A state directory holds one cluster; `cluster:up` uses `.local-cluster/`, tests their own.
import { access, constants } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
/** `.bin/` as scripts/build-binaries.sh fills it; CTI_BIN_DIR points elsewhere (e.g. to check the missing-binaries message). */
export const BIN_DIR = process.env.CTI_BIN_DIR ?? join(REPO_ROOT, '.bin')
export const DEFAULT_STATE_DIR = join(REPO_ROOT, '.local-cluster')

export const Binaries = {
  etcd: join(BIN_DIR, 'etcd'),
  apiserver: join(BIN_DIR, 'kube-apiserver'),
  controllerManager: join(BIN_DIR, 'kube-controller-manager'),
  kubectl: join(BIN_DIR, 'kubectl'),
  kubelet: join(BIN_DIR, 'kubelet'),
  scheduler: join(BIN_DIR, 'kube-scheduler'),
  proxy: join(BIN_DIR, 'kube-proxy'),
  coredns: join(BIN_DIR, 'coredns'),
  contour: join(BIN_DIR, 'contour'),
  contourCrds: join(BIN_DIR, 'contour-crds.yaml'),
} as const
export type BinaryName = keyof typeof Binaries

/** Node 24 from node_modules (the `node` devDependency); system node may be too old for client-node 2.x. */
export const NODE_BIN = join(REPO_ROOT, 'node_modules', '.bin', 'node')

export interface StatePaths {
  readonly dir: string
  readonly state: string
  readonly lock: string
  readonly kubeconfig: string
  readonly controllerManagerKubeconfig: string
  readonly pki: string
  readonly etcdData: string
  readonly logs: string
}

export function statePaths(dir: string): StatePaths {
  const abs = resolve(dir)
  return {
    dir: abs,
    state: join(abs, 'state.json'),
    lock: join(abs, 'lock'),
    kubeconfig: join(abs, 'kubeconfig'),
    controllerManagerKubeconfig: join(abs, 'kube-controller-manager.kubeconfig'),
    pki: join(abs, 'pki'),
    etcdData: join(abs, 'etcd'),
    logs: join(abs, 'logs'),
  }
}

export class MissingBinariesError extends Error {
  readonly code = 'ERR_MISSING_BINARIES'
  readonly missing: readonly string[]
  constructor(missing: readonly string[]) {
    super(
      `missing binaries: ${missing.join(', ')}. Build them with \`bash scripts/build-binaries.sh\` ` +
        '(kube-apiserver, kube-controller-manager, kubectl, etcd, contour and the Contour CRDs into .bin/).',
    )
    this.missing = missing
    this.name = 'MissingBinariesError'
  }
}

/** Throws MissingBinariesError naming every missing one, so a fresh checkout learns what to run. */
export async function requireBinaries(names: readonly BinaryName[]): Promise<void> {
  const missing: string[] = []
  for (const name of names) {
    const mode = name === 'contourCrds' ? constants.R_OK : constants.X_OK
    try {
      await access(Binaries[name], mode)
    } catch {
      missing.push(Binaries[name])
    }
  }
  if (missing.length > 0) throw new MissingBinariesError(missing)
}
