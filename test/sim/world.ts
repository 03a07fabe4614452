// A simulated cluster for the certificate lifecycle, on a fake clock: the real protocol code
// (ensureSecrets, and the sidecar's loop from sidecar-loop.ts) against a Secrets API (in memory, or a real
// kube-apiserver), a kubelet model that copies every Secret into every pod's files with its own
// random delay up to the propagation bound, Contour pods that re-read their files on every
// handshake, Envoy pods that reload their files (SDS) and Envoy pods that never reload but
// restart at random, Contour replicas that crash (also in the middle of a step) and restart,
// rotations and revocations asked for at random. Every time a pod's material changes, and on
// every reconnect, each pair that can coexist completes a real TLS 1.3 handshake, both directions,
// at the simulated time (handshakes.ts).
//
// Failures are classed:
// - revocation: during a revocation's window (from its write until every pod can have its files);
// - never-reload: an Envoy that never reloads and whose trust, read at its start, lacks the CA
//   that signed Contour's current leaf (it started before the next CA was trusted, and no
//   protocol can reach it: it must restart, or run with --resources-dir). Checked to be exactly that;
// - anything else is a failure of the protocol, and must never happen.
import { ensureSecrets, type EnsuredSecrets } from '../../src/bootstrap/ensure-secrets.ts'
import type { Clock } from '../../src/bootstrap/clock.ts'
import { RequestAnnotations, sameSecretData, SecretAnnotations, type SecretNames, type StoredSecret } from '../../src/bootstrap/secret-model.ts'
import { runSidecarLoop, type PassOptions } from '../../src/bootstrap/sidecar-loop.ts'
import { SecretStoreError, type SecretStore } from '../../src/bootstrap/secret-store.ts'
import { checkCertificateSet, checkLeafPair } from '../../src/core/certs/check-set.ts'
import { fingerprintSet } from '../../src/core/certs/fingerprint.ts'
import { issueCertificateSet } from '../../src/core/certs/issue-set.ts'
import { parseBundle, signerIn } from '../../src/core/rotation/trust-state.ts'
import type { Handshaker, HandshakeResult, TlsEnd } from './handshakes.ts'

const MIN = 60_000
const DAY = 86_400_000
const CERTGEN = { contour: 'contourcert', envoy: 'envoycert', ca: 'cacert' } as const

export interface WorldOptions {
  readonly years: number
  readonly seed: number
  readonly contourReplicas: number
  readonly reloadingEnvoys: number
  readonly staticEnvoys: number
  /** The kubelet's worst case to refresh a mounted Secret. */
  readonly propagationBoundMs: number
  /** The protocol's wait between trusting the next CA and switching the leaves. */
  readonly propagationDelayMs: number
  readonly pollMs: number
  readonly meanDaysBetweenRotations: number
  readonly revocations: number
  readonly meanDaysBetweenContourCrashes: number
  readonly meanDaysBetweenEnvoyRestarts: number
  readonly meanDaysBetweenReconnects: number
  /**
   * Start from `contour certgen`'s set in use by old pods (two Contours, two reloading Envoys, one
   * that never reloads), roll out the new pods an hour in, and retire the old ones as a rollout does.
   */
  readonly migration?: boolean
  /** Chance that a Contour replica crashes a few API calls after it starts a step. */
  readonly crashMidStep: number
  readonly lifetimeDays?: number
  readonly namespace: string
  readonly names: SecretNames
  /** The Secrets API (in memory, or a real kube-apiserver's); the admin's requests go through it too. */
  readonly api: SecretStore
  readonly handshaker: Handshaker
  readonly start: number
  readonly log?: (line: string) => void
}

export interface Figures {
  simulatedDays: number
  steps: Record<string, number>
  renewals: number
  rotationsRequested: number
  rotationsDone: number
  revocations: number
  contourCrashes: number
  crashesMidStep: number
  envoyRestarts: number
  reconnects: number
  handshakes: number
  /** Handshakes with an old pod (certgen's files) on one side, during a migration. */
  migrationHandshakes: number
  failures: number
  revocationWindowFailures: number
  neverReloadFailures: number
  apiCalls: number
  maxBundle: number
  failureSamples: string[]
}

type Files = Record<string, Record<string, Buffer>>

interface Pod {
  readonly name: string
  readonly kind: 'contour' | 'envoy-reloading' | 'envoy-static'
  incarnation: number
  running: boolean
  /** mount -> Secret name */
  readonly mounts: Record<string, string>
  files: Files
  /** A static Envoy's material, read once at start. */
  snapshot?: TlsEnd
  /** An old pod of the certgen install: serves certgen's files, never restarts, retired by the rollout. */
  legacy?: boolean
  stop?: () => void
}

export class World {
  private now: number
  private readonly events: Array<{ at: number; seq: number; fire: () => void }> = []
  private seq = 0
  private busy = 0
  private idleWaiters: Array<() => void> = []
  private rng: () => number
  readonly figures: Figures
  private readonly pods: Pod[] = []
  private readonly revocationWindows: Array<{ from: number; to: number }> = []
  private readonly pairMaterial = new Map<string, string>()
  private readonly secrets = new Map<string, StoredSecret | undefined>()

  private readonly o: WorldOptions

  constructor(o: WorldOptions) {
    this.o = o
    this.now = o.start
    this.rng = mulberry32(o.seed)
    this.figures = {
      simulatedDays: o.years * 365, steps: {}, renewals: 0, rotationsRequested: 0, rotationsDone: 0, revocations: 0, contourCrashes: 0, crashesMidStep: 0,
      envoyRestarts: 0, reconnects: 0, handshakes: 0, migrationHandshakes: 0, failures: 0, revocationWindowFailures: 0, neverReloadFailures: 0, apiCalls: 0, maxBundle: 0, failureSamples: [],
    }
  }

  // ---- the fake clock ----------------------------------------------------------------------

  private at(at: number, fire: () => void): void {
    const ev = { at: Math.max(at, this.now), seq: this.seq++, fire }
    let i = this.events.length
    while (i > 0 && (this.events[i - 1] as { at: number }).at > ev.at) i--
    this.events.splice(i, 0, ev)
  }

  private clockFor(alive: () => boolean): Clock {
    return {
      now: () => this.now,
      sleep: (ms, signal) => new Promise<void>((resolve, reject) => {
        this.at(this.now + ms, () => {
          if (signal?.aborted || !alive()) return reject(new Error('stopped'))
          resolve()
        })
      }),
      random: () => this.rng(),
    }
  }

  /** Work that takes no simulated time (key generation, API calls, handshakes) but real time. */
  private async track<T>(work: Promise<T>): Promise<T> {
    this.busy++
    try {
      return await work
    } finally {
      this.busy--
      if (this.busy === 0) for (const w of this.idleWaiters.splice(0)) w()
    }
  }

  /** Lets every actor run until it waits on the fake clock again. */
  private async settle(): Promise<void> {
    for (let idle = 0; idle < 1; ) {
      await new Promise((resolve) => setImmediate(resolve))
      if (this.busy > 0) {
        idle = 0
        await new Promise<void>((resolve) => this.idleWaiters.push(resolve))
      } else idle++
    }
  }

  private exp(meanMs: number): number {
    return -Math.log(1 - this.rng()) * meanMs
  }

  // ---- the Secrets API as every actor sees it ------------------------------------------------

  /** The protocol's view for one pod incarnation: calls of a crashed pod never land. */
  private storeFor(alive: () => boolean, onCall: () => void, onClaim: () => void = () => undefined): SecretStore {
    const { api } = this.o
    const guard = async <T>(op: () => Promise<T>, written: boolean): Promise<T> => {
      if (!alive()) return new Promise<T>(() => undefined)
      onCall()
      this.figures.apiCalls++
      const result = await this.track(op())
      // A write that landed is seen by the kubelet, even if its writer died meanwhile.
      if (written) this.secretChanged(result as StoredSecret)
      if (!alive()) return new Promise<T>(() => undefined)
      if (written && (result as StoredSecret).name === this.o.names.ca && (result as StoredSecret).annotations[SecretAnnotations.setState] === 'writing') onClaim()
      return result
    }
    return {
      get: (name) => guard(() => api.get(name), false),
      create: (secret) => guard(() => api.create(secret), true),
      replace: (secret, rv) => guard(() => api.replace(secret, rv), true),
    }
  }

  /** The kubelet: every pod mounting the Secret gets it within the propagation bound, each at its own time. */
  private secretChanged(secret: StoredSecret): void {
    const previous = this.secrets.get(secret.name)
    this.secrets.set(secret.name, secret)
    this.figures.maxBundle = Math.max(this.figures.maxBundle, parseBundle(secret.data['ca.crt']?.toString() ?? '').length)
    if (previous !== undefined && sameSecretData(previous.data, secret.data)) return
    for (const pod of this.pods) {
      for (const [mount, name] of Object.entries(pod.mounts)) {
        if (name !== secret.name) continue
        const incarnation = pod.incarnation
        this.at(this.now + this.rng() * this.o.propagationBoundMs, () => {
          if (pod.incarnation !== incarnation) return
          const latest = this.secrets.get(name)
          if (latest === undefined || sameSecretData(pod.files[mount] ?? {}, latest.data)) return
          pod.files = { ...pod.files, [mount]: latest.data }
          if (pod.running) this.materialChanged(pod, 'its files changed')
        })
      }
    }
  }

  private filesAtStart(pod: Pod): Files {
    const files: Files = {}
    for (const [mount, name] of Object.entries(pod.mounts)) {
      const s = this.secrets.get(name)
      if (s !== undefined) files[mount] = s.data
    }
    return files
  }

  // ---- pods ----------------------------------------------------------------------------------

  private startContour(pod: Pod, crashes = true): void {
    const incarnation = ++pod.incarnation
    pod.running = false
    pod.files = this.filesAtStart(pod)
    const alive = (): boolean => pod.incarnation === incarnation
    let callsLeft = Infinity
    let onClaim = (): void => undefined
    const store = this.storeFor(alive, () => {
      if (--callsLeft <= 0) this.crashContour(pod, true)
    }, () => onClaim())
    const clock = this.clockFor(alive)
    const log = (line: string): void => {
      this.o.log?.(`${new Date(this.now).toISOString()} ${pod.name}#${incarnation}: ${line}`)
    }
    // A claim of the CA Secret starts a step: now and then the writer dies a few calls later.
    onClaim = (): void => {
      if (this.rng() < this.o.crashMidStep) callsLeft = 1 + Math.floor(this.rng() * 4)
    }
    // The options bootstrap-tls builds once (run-contour.ts), with production defaults.
    const pass: PassOptions = {
      store,
      names: this.o.names,
      rotateToken: '',
      issue: () => this.track(issueCertificateSet({ namespace: this.o.namespace, lifetimeDays: this.o.lifetimeDays, now: new Date(this.now) })),
      check: (set) => checkCertificateSet(set, { now: new Date(this.now) }),
      fingerprint: fingerprintSet,
      clock,
      log,
      propagationDelayMs: this.o.propagationDelayMs,
      // As run-contour passes it by default (--migrate-from=certgen).
      certgenNames: CERTGEN,
    }
    const ensure = (deadline: number): Promise<EnsuredSecrets> => ensureSecrets({ ...pass, deadline })
    const run = async (): Promise<void> => {
      // The first pass is what bootstrap-tls does at pod start; then the kubelet must fill the
      // mounts. If the Secrets move on meanwhile (another replica's step), bootstrap-tls times out
      // after --wait-timeout and the kubelet runs it again.
      let result: EnsuredSecrets
      for (;;) {
        result = await ensure(this.now + 5 * MIN)
        this.countSteps(result)
        const ready = result
        const gaveUpAt = this.now + 5 * MIN
        await this.waitFor(clock, alive, () => this.contourFilesHold(pod, ready) || this.now >= gaveUpAt)
        if (this.contourFilesHold(pod, ready)) break
        await clock.sleep(10_000)
      }
      pod.running = true
      this.materialChanged(pod, 'started')
      // The sidecar: the production loop (sidecar-loop.ts) on the fake clock. A crashed pod's
      // sleeps reject and its calls never land, so its loop just ends.
      await runSidecarLoop({
        pass,
        first: result,
        pollIntervalMs: this.o.pollMs,
        passTimeoutMs: 5 * MIN,
        clock,
        log,
        onPass: (ensured) => ensured && this.countSteps(ensured),
      })
    }
    run().catch(() => undefined)
    if (crashes) this.at(this.now + this.exp(this.o.meanDaysBetweenContourCrashes * DAY), () => alive() && this.crashContour(pod, false))
  }

  private crashContour(pod: Pod, midStep: boolean): void {
    this.figures.contourCrashes++
    if (midStep) this.figures.crashesMidStep++
    pod.incarnation++
    pod.running = false
    this.at(this.now + 1000 + this.rng() * 60_000, () => this.startContour(pod))
  }

  private countSteps(result: EnsuredSecrets): void {
    for (const { step, reason } of result.steps) {
      this.figures.steps[step] = (this.figures.steps[step] ?? 0) + 1
      if (step === 'add-trust' && reason === 'renewal') this.figures.renewals++
      if (step === 'add-trust' && reason === 'rotation') this.figures.rotationsDone++
    }
  }

  private async waitFor(clock: Clock, alive: () => boolean, ready: () => boolean): Promise<void> {
    while (alive() && !ready()) await clock.sleep(500)
    if (!alive()) throw new Error('stopped')
  }

  private contourFilesHold(pod: Pod, result: EnsuredSecrets): boolean {
    return sameSecretData(pod.files.contour ?? {}, result.secrets.contour.data) && sameSecretData(pod.files.ca ?? {}, result.secrets.ca.data)
  }

  private startEnvoy(pod: Pod): void {
    const incarnation = ++pod.incarnation
    pod.running = false
    pod.snapshot = undefined
    pod.files = this.filesAtStart(pod)
    const alive = (): boolean => pod.incarnation === incarnation
    const clock = this.clockFor(alive)
    const run = async (): Promise<void> => {
      // bootstrap-tls --role=envoy: wait until the mounted leaf verifies against the mounted trust.
      await this.waitFor(clock, alive, () => this.envoyEnd(pod) !== undefined && checkLeafPair({ ...(this.envoyEnd(pod) as TlsEnd), caCert: (this.envoyEnd(pod) as TlsEnd).ca }, { usage: 'client', now: new Date(this.now), renewFraction: 0 }).ok)
      if (pod.kind === 'envoy-static') pod.snapshot = this.envoyEnd(pod)
      pod.running = true
      this.materialChanged(pod, 'started')
    }
    run().catch(() => undefined)
    if (!pod.legacy) this.at(this.now + this.exp(this.o.meanDaysBetweenEnvoyRestarts * DAY), () => {
      if (!alive()) return
      this.figures.envoyRestarts++
      this.startEnvoy(pod)
    })
    const reconnect = (): void => {
      this.at(this.now + this.exp(this.o.meanDaysBetweenReconnects * DAY), () => {
        if (!alive()) return
        if (pod.running) {
          this.figures.reconnects++
          this.handshakeAll(pod, 'reconnect', true)
        }
        reconnect()
      })
    }
    reconnect()
  }

  private contourEnd(pod: Pod): TlsEnd | undefined {
    const c = pod.files.contour
    const ca = pod.files.ca?.['ca.crt']
    if (!c?.['tls.crt'] || !c['tls.key'] || !ca) return undefined
    return { cert: c['tls.crt'].toString(), key: c['tls.key'].toString(), ca: ca.toString() }
  }

  private envoyEnd(pod: Pod): TlsEnd | undefined {
    if (pod.snapshot) return pod.snapshot
    const e = pod.files.envoy
    const ca = pod.files.ca?.['ca.crt']
    if (!e?.['tls.crt'] || !e['tls.key'] || !ca) return undefined
    return { cert: e['tls.crt'].toString(), key: e['tls.key'].toString(), ca: ca.toString() }
  }

  // ---- handshakes ----------------------------------------------------------------------------

  private materialChanged(pod: Pod, why: string): void {
    this.handshakeAll(pod, why, false)
  }

  /** The pod against every running counterpart; unless `always`, only pairs whose material changed. */
  private handshakeAll(pod: Pod, why: string, always: boolean): void {
    const others = this.pods.filter((p) => p.running && (pod.kind === 'contour') !== (p.kind === 'contour'))
    for (const other of others) {
      const contour = pod.kind === 'contour' ? pod : other
      const envoy = pod.kind === 'contour' ? other : pod
      const server = this.contourEnd(contour)
      const client = this.envoyEnd(envoy)
      if (server === undefined || client === undefined) continue
      const key = `${contour.name}/${envoy.name}`
      const material = `${server.cert}|${server.ca}|${client.cert}|${client.ca}`
      if (!always && this.pairMaterial.get(key) === material) continue
      this.pairMaterial.set(key, material)
      const at = this.now
      void this.track(this.o.handshaker.handshake(at, server, client)).then((r) => this.judge(r, at, contour, envoy, server, client, why))
    }
  }

  private judge(r: HandshakeResult, at: number, contour: Pod, envoy: Pod, server: TlsEnd, client: TlsEnd, why: string): void {
    this.figures.handshakes++
    if (contour.legacy || envoy.legacy) this.figures.migrationHandshakes++
    if (r.ok) return
    if (this.revocationWindows.some((w) => at >= w.from && at <= w.to)) {
      this.figures.revocationWindowFailures++
      return
    }
    // A static Envoy whose trust predates the CA that signed Contour's leaf: only a restart helps.
    const stale = envoy.kind === 'envoy-static' && r.client !== undefined && signerIn(parseBundle(client.ca), server.cert) === undefined
    if (stale) {
      this.figures.neverReloadFailures++
      return
    }
    this.figures.failures++
    if (this.figures.failureSamples.length < 10) {
      this.figures.failureSamples.push(`${new Date(at).toISOString()} ${contour.name} <-> ${envoy.name} (${why}): server=${r.server ?? 'ok'} client=${r.client ?? 'ok'}`)
    }
  }

  // ---- requests by an admin ------------------------------------------------------------------

  private async annotateCa(key: string, value: string): Promise<void> {
    const { api } = this.o
    for (let i = 0; i < 10; i++) {
      const ca = await this.track(api.get(this.o.names.ca))
      if (ca === undefined) return
      try {
        const written = await this.track(api.replace({ ...ca, annotations: { ...ca.annotations, [key]: value } }, ca.resourceVersion))
        this.secretChanged(written)
        return
      } catch (err) {
        if (!(err instanceof SecretStoreError && err.kind === 'conflict')) throw err
      }
    }
  }

  // ---- a migration from contour certgen -------------------------------------------------------

  /** certgen's set and the old pods that use it; the rollout starts an hour later and retires them. */
  private async startLegacy(): Promise<number> {
    const set = await this.track(issueCertificateSet({ namespace: this.o.namespace, now: new Date(this.now - 30 * DAY) }))
    const unmanaged = (name: string, data: Record<string, string>): Promise<StoredSecret> =>
      this.track(this.o.api.create({ name, type: name === CERTGEN.ca ? 'Opaque' : 'kubernetes.io/tls', data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v)])), labels: {}, annotations: {} }))
    for (const written of [
      await unmanaged(CERTGEN.contour, { 'tls.crt': set.contourCert, 'tls.key': set.contourKey, 'ca.crt': set.caCert }),
      await unmanaged(CERTGEN.envoy, { 'tls.crt': set.envoyCert, 'tls.key': set.envoyKey, 'ca.crt': set.caCert }),
      await unmanaged(CERTGEN.ca, { 'cacert.pem': set.caCert }),
    ]) this.secretChanged(written)
    // Upstream's pods read the compact layout: each leaf Secret's ca.crt is the trust.
    const old: Pod[] = [
      ...[0, 1].map((i) => ({ name: `old-contour-${i}`, kind: 'contour' as const, legacy: true, incarnation: 0, running: false, mounts: { contour: CERTGEN.contour, ca: CERTGEN.contour }, files: {} })),
      ...[0, 1].map((i) => ({ name: `old-envoy-sds-${i}`, kind: 'envoy-reloading' as const, legacy: true, incarnation: 0, running: false, mounts: { envoy: CERTGEN.envoy, ca: CERTGEN.envoy }, files: {} })),
      { name: 'old-envoy-static', kind: 'envoy-static' as const, legacy: true, incarnation: 0, running: false, mounts: { envoy: CERTGEN.envoy, ca: CERTGEN.envoy }, files: {} },
    ]
    this.pods.push(...old)
    for (const pod of old) {
      if (pod.kind === 'contour') {
        pod.incarnation++
        pod.files = this.filesAtStart(pod)
        pod.running = true
        this.materialChanged(pod, 'started')
      } else this.startEnvoy(pod)
    }
    const rolloutAt = this.now + 3_600_000
    // The old pods go as the new ones come: Contours half an hour into the rollout, Envoys one every 5 minutes after.
    for (const [i, pod] of old.entries()) {
      this.at(rolloutAt + (pod.kind === 'contour' ? 30 * MIN : 30 * MIN + i * 5 * MIN), () => {
        pod.incarnation++
        pod.running = false
      })
    }
    return rolloutAt
  }

  // ---- the run -------------------------------------------------------------------------------

  async run(): Promise<Figures> {
    const { names } = this.o
    const end = this.o.start + this.o.years * 365 * DAY
    for (let i = 0; i < this.o.contourReplicas; i++) {
      this.pods.push({ name: `contour-${i}`, kind: 'contour', incarnation: 0, running: false, mounts: { contour: names.contour, ca: names.ca }, files: {} })
    }
    for (let i = 0; i < this.o.reloadingEnvoys; i++) {
      this.pods.push({ name: `envoy-sds-${i}`, kind: 'envoy-reloading', incarnation: 0, running: false, mounts: { envoy: names.envoy, ca: names.ca }, files: {} })
    }
    for (let i = 0; i < this.o.staticEnvoys; i++) {
      this.pods.push({ name: `envoy-static-${i}`, kind: 'envoy-static', incarnation: 0, running: false, mounts: { envoy: names.envoy, ca: names.ca }, files: {} })
    }
    const rolloutAt = this.o.migration ? await this.startLegacy() : this.now
    for (const [i, pod] of this.pods.filter((p) => !p.legacy).entries()) {
      this.at(rolloutAt + (this.o.migration ? i * 2 * MIN : this.rng() * 10_000), () => (pod.kind === 'contour' ? this.startContour(pod) : this.startEnvoy(pod)))
    }

    const rotateAt = (): void => {
      this.at(this.now + this.exp(this.o.meanDaysBetweenRotations * DAY), () => {
        this.figures.rotationsRequested++
        void this.annotateCa(RequestAnnotations.rotate, `rotate-${this.figures.rotationsRequested}`)
        rotateAt()
      })
    }
    rotateAt()
    for (let i = 0; i < this.o.revocations; i++) {
      const when = this.o.start + (0.2 + 0.6 * this.rng()) * (end - this.o.start)
      this.at(when, () => {
        this.figures.revocations++
        // The blip is accepted from the request until every pod can have the new set: the
        // sidecars see the request within a poll interval (or when they next wake), then the kubelet's bound.
        this.revocationWindows.push({ from: this.now, to: this.now + this.o.pollMs * 1.2 + 5 * MIN + this.o.propagationBoundMs })
        void this.annotateCa(RequestAnnotations.revoke, `revoke-${i + 1}`)
      })
    }

    while (this.events.length > 0) {
      const ev = this.events.shift() as { at: number; fire: () => void }
      if (ev.at > end) break
      this.now = ev.at
      ev.fire()
      await this.settle()
    }
    for (const pod of this.pods) pod.incarnation++
    return this.figures
  }
}


/** A small seeded PRNG, so a run can be repeated from its seed. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
