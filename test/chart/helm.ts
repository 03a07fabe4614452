// Running the repository's helm (.bin/helm) on the chart, with its own config/cache dirs so
// nothing in the user's ~/.config/helm is read or written, and parsing what it renders.
import { access, constants, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseAllDocuments } from 'yaml'
import { run, type RunResult } from '../helpers/cluster.ts'
import { BIN_DIR, REPO_ROOT } from '../../scripts/cluster/paths.ts'

export const HELM = join(BIN_DIR, 'helm')
export const CHART_DIR = join(REPO_ROOT, 'charts', 'contour-tls-injector')

/** Fails (never skips) with the command that builds the binaries. */
export async function requireHelm(): Promise<void> {
  try {
    await access(HELM, constants.X_OK)
  } catch {
    throw new Error('missing binaries: .bin/helm. Build them with `bash scripts/build-binaries.sh` (helm, kube-apiserver, kube-controller-manager, kubectl, etcd, contour into .bin/).')
  }
}

let home: Promise<string> | undefined
async function helmEnv(): Promise<NodeJS.ProcessEnv> {
  const dir = await (home ??= mkdtemp(join(tmpdir(), 'cti-helm-')))
  return { PATH: process.env.PATH, HOME: dir, HELM_CONFIG_HOME: join(dir, 'config'), HELM_CACHE_HOME: join(dir, 'cache'), HELM_DATA_HOME: join(dir, 'data') }
}

/** Removes the temporary helm home (call once, at the end of the suite). */
export async function removeHelmHome(): Promise<void> {
  if (home !== undefined) await rm(await home, { recursive: true, force: true })
}

export async function helm(args: readonly string[], opts: { timeoutMs?: number } = {}): Promise<RunResult> {
  return run(HELM, args, { env: await helmEnv(), timeoutMs: opts.timeoutMs ?? 120_000 })
}

export interface Manifest {
  readonly apiVersion: string
  readonly kind: string
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly labels?: Record<string, string>; readonly annotations?: Record<string, string> }
  readonly [key: string]: unknown
}

/** `--set` style values as args: {"a.b": "x"} -> --set-json a.b="x" (so types are exact). */
export function valueArgs(values: Readonly<Record<string, unknown>>): string[] {
  return Object.entries(values).flatMap(([key, value]) => ['--set-json', `${key}=${JSON.stringify(value)}`])
}

export async function template(values: Readonly<Record<string, unknown>> = {}, opts: { release?: string; namespace?: string } = {}): Promise<{ text: string; objects: Manifest[] }> {
  const res = await helm(['template', opts.release ?? 'contour-tls-injector', CHART_DIR, '--namespace', opts.namespace ?? 'cti-system', ...valueArgs(values)])
  if (res.code !== 0) throw new Error(`helm template failed (${res.code}): ${res.stderr}`)
  return { text: res.stdout, objects: parseManifests(res.stdout) }
}

export function parseManifests(text: string): Manifest[] {
  return parseAllDocuments(text)
    .map((doc) => doc.toJS() as Manifest | null)
    .filter((o): o is Manifest => o !== null && typeof o === 'object' && 'kind' in o)
}

export function findOne(objects: readonly Manifest[], kind: string, name?: string): Manifest {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name))
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length}: ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`)
  return found[0] as Manifest
}
