// `--role=contour`: make sure the three Secrets hold one usable set, then wait until this pod's
// mounts hold exactly that material; with --sidecar, keep ensuring it (sidecar-loop.ts). Loaded
// lazily by main.ts. It talks to the API over node:https (src/kube/https-secret-store.ts); @kubernetes/client-node is loaded only for
// kubeconfig shapes that need it (exec, auth-provider...), and node-forge only when a new set
// is issued: checking an existing set needs neither (see test/bootstrap/contour-role-imports.test.ts).
import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { checkCertificateSet } from '../core/certs/check-set.ts'
import { fingerprintSet } from '../core/certs/fingerprint.ts'
import { resolveIssueOptions } from '../core/certs/issue-options.ts'
import type { CertificateSet, IssueOptions } from '../core/certs/types.ts'
import { loadApiTarget } from '../kube/api-target.ts'
import { createHttpsSecretStore, type ClosableSecretStore } from '../kube/https-secret-store.ts'
import type { BootstrapConfig } from './config.ts'
import type { BootstrapContext } from './context.ts'
import { ensureSecrets, type EnsuredSecrets, type EnsureOptions } from './ensure-secrets.ts'
import { certgenNamesFor, type SecretNames } from './secret-model.ts'
import { runSidecarLoop, type PassOptions } from './sidecar-loop.ts'
import { renderLifecycleMetrics } from './lifecycle-metrics.ts'
import { startMetricsServer } from './metrics-server.ts'
import type { StepKind } from '../core/rotation/trust-state.ts'
import { exactMaterialProbe, waitForFiles, waitOptionsFor } from './wait-for-files.ts'

type ContourConfig = Extract<BootstrapConfig, { mode: 'contour' }>

export async function runContourRole(config: ContourConfig, ctx: BootstrapContext): Promise<void> {
  const { clock, log } = ctx
  const deadline = clock.now() + config.waitTimeoutMs
  const target = await loadApiTarget({ kubeconfig: config.kubeconfig, namespace: config.namespace, env: ctx.env, serviceAccountDir: ctx.serviceAccountDir })
  const issueOptions = (): IssueOptions => ({ namespace: target.namespace, ...config.issue, now: new Date(clock.now()) })
  resolveIssueOptions(issueOptions()) // bad --key-bits, --extra-sans... fail now, not in the middle of a write
  const { ca, contour, envoy } = config.secretNames
  const { connection } = target
  const via = connection.via === 'client-node' ? `; read by @kubernetes/client-node: the ${connection.fallbackReason}` : ''
  log(`role contour: namespace ${target.namespace}, Secrets ${ca}, ${contour}, ${envoy}, credentials from ${target.source === 'in-cluster' ? 'the service account' : 'the kubeconfig'} (${target.identity}${via})`)

  const store = createHttpsSecretStore({ connection, namespace: target.namespace, identity: target.identity, requestTimeoutMs: ctx.requestTimeoutMs })
  const issue = ctx.issue ?? ((opts: IssueOptions) => loadIssuer().then((m) => m.issueCertificateSet(opts)))
  // Key generation is the longest step of a first start. When the kubelet mounted the optional CA
  // volume empty, its Secret did not exist a moment ago and a new set is almost certainly needed:
  // start issuing now, overlapping the API reads. On restarts the file is there and nothing is spent.
  const caMount = join(config.tlsDir, 'ca')
  const firstStart = ctx.issue === undefined && !config.secretsOnly && (await isDirectory(caMount)) && !(await isFile(join(caMount, 'ca.crt')))
  let early = firstStart ? issue(issueOptions()) : undefined
  early?.catch(() => undefined) // used, or dropped if the Secrets turn out valid
  const takeIssued = (): Promise<CertificateSet> => {
    const set = early ?? issue(issueOptions())
    early = undefined
    return set
  }
  // Built once: the sidecar's later passes reuse it, each with a deadline of its own.
  const pass: PassOptions = {
    store,
    names: config.secretNames,
    rotateToken: config.rotateToken,
    issue: takeIssued,
    check: (set) => checkCertificateSet(set, { now: new Date(clock.now()) }),
    fingerprint: fingerprintSet,
    clock,
    log,
    signal: ctx.signal,
    takeoverAfterMs: ctx.takeoverAfterMs,
    propagationDelayMs: config.propagationDelayMs,
    ...(config.migrateFromCertgen ? optionalCertgen(certgenNamesFor(config.secretNames)) : {}),
    pollMs: ctx.secretPollMs,
    progressEveryMs: ctx.progressEveryMs,
    // No CA Secret: a new set is likely, so node-forge loads while the leaves are read.
    prepareIssue: () => void loadIssuer().catch(() => undefined),
  }
  const first = await ensureAndWait(config, ctx, { ...pass, deadline }, store)
  early = undefined // an early set the Secrets did not need must not stay in memory (keys and all)
  if (first === undefined || !config.sidecar) return
  // The lifecycle metrics follow the latest pass; the server lives as long as the loop.
  let last = first
  const counters: { steps: Partial<Record<StepKind, number>>; failedPasses: number } = { steps: {}, failedPasses: 0 }
  const count = (ensured: EnsuredSecrets): void => {
    for (const { step } of ensured.steps) counters.steps[step] = (counters.steps[step] ?? 0) + 1
  }
  count(first)
  // Metrics are a courtesy: a port taken by another container must not stop the renewals.
  const metrics =
    config.metricsPort === 0
      ? undefined
      : await startMetricsServer(config.metricsPort, () => renderLifecycleMetrics(target.namespace, last, counters)).catch((err: Error) => {
          log(`warning: cannot serve the lifecycle metrics on port ${config.metricsPort} (${err.message}); renewing without them`)
          return undefined
        })
  if (metrics) log(`sidecar: lifecycle metrics on :${metrics.port}/metrics`)
  await runSidecarLoop({
    pass,
    first,
    pollIntervalMs: config.pollIntervalMs,
    passTimeoutMs: config.waitTimeoutMs,
    clock,
    log,
    signal: ctx.signal,
    afterPass: () => store.close(),
    onPass: (ensured) => {
      if (ensured === undefined) counters.failedPasses++
      else {
        count(ensured)
        last = ensured
      }
    },
  }).finally(() => metrics?.close())
}

/** The first pass and the wait for this pod's mounts; its result, or undefined with --secrets-only. */
async function ensureAndWait(config: ContourConfig, ctx: BootstrapContext, options: EnsureOptions, store: ClosableSecretStore): Promise<EnsuredSecrets | undefined> {
  const { log } = ctx
  const { ca, contour, envoy } = config.secretNames
  // Idle keep-alive connections are closed once the Secrets are settled, whatever the outcome.
  const ensured = await ensureSecrets(options).finally(() => store.close())
  if (config.secretsOnly) {
    log('--secrets-only: the Secrets hold a valid set; not waiting for mounts')
    return undefined
  }
  const withEnvoy = config.colocated || (await isDirectory(join(config.tlsDir, 'envoy')))
  const mounts = [
    { dir: join(config.tlsDir, 'contour'), secretName: contour, data: ensured.secrets.contour.data },
    { dir: join(config.tlsDir, 'ca'), secretName: ca, data: ensured.secrets.ca.data },
    ...(withEnvoy ? [{ dir: join(config.tlsDir, 'envoy'), secretName: envoy, data: ensured.secrets.envoy.data }] : []),
  ]
  const why = config.colocated ? ' (--colocated)' : withEnvoy ? ` (${join(config.tlsDir, 'envoy')} exists: co-located pod)` : ''
  log(`waiting for ${mounts.map((m) => m.dir).join(', ')} to hold the Secrets' material${why}`)
  await waitForFiles('the mounted Secrets', exactMaterialProbe(mounts), waitOptionsFor(ctx, options.deadline, config.waitTimeoutMs))
  return ensured
}

function optionalCertgen(names: SecretNames | undefined): { certgenNames?: SecretNames } {
  return names === undefined ? {} : { certgenNames: names }
}

/** The issuer, with node-forge: loaded only when a set is (about to be) issued, once. */
let issuer: Promise<typeof import('../core/certs/issue-set.ts')> | undefined
function loadIssuer(): Promise<typeof import('../core/certs/issue-set.ts')> {
  issuer ??= import('../core/certs/issue-set.ts')
  return issuer
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile()
  } catch {
    return false
  }
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory()
  } catch {
    return false
  }
}
