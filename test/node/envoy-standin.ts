// The Envoy stand-in (scripts/node/envoy-standin, image localhost/cti-envoy-standin) in the
// upstream Envoy DaemonSet's pod: what its log says it did, and that it follows the files
// when the Secrets change. It is not Envoy; it does the part of Envoy's start-up the product's
// TLS is about (bootstrap, SDS files, DNS, xDS over mutual TLS 1.3).
import { X509Certificate } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { V1Pod, V1Secret } from '@kubernetes/client-node'
import type { Test } from 'tap'
import { runCommand } from '../../scripts/cluster/node/exec.ts'
import { nodePaths } from '../../scripts/cluster/node/config-files.ts'
import { waitFor, type Log } from '../../scripts/cluster/wait.ts'
import type { TestCluster } from '../helpers/cluster.ts'

export interface Exchange {
  readonly attempt: number
  readonly host: string
  readonly resolvedName: string
  readonly ip: string
  readonly port: number
  readonly tls: string
  readonly alpn: string
  readonly sni: string
  readonly serverCert: string
  readonly serverSan: string
  readonly clientCert: string
  readonly clientSha256: string
  readonly rest: string
}

const OK_LINE = /attempt (\d+): xds exchange ok: xds (\S+) resolved (\S+) -> ([\d.]+):(\d+); tls="([^"]+)" alpn=(\S+) sni=(\S+) server_cert="([^"]*)" server_san=(\S+) client_cert="([^"]*)" client_cert_sha256=(\w+); (.*)$/

export function parseExchanges(logText: string): Exchange[] {
  const out: Exchange[] = []
  for (const line of logText.split('\n')) {
    const m = OK_LINE.exec(line)
    if (m === null) continue
    out.push({ attempt: Number(m[1]), host: m[2] ?? '', resolvedName: m[3] ?? '', ip: m[4] ?? '', port: Number(m[5]), tls: m[6] ?? '', alpn: m[7] ?? '', sni: m[8] ?? '', serverCert: m[9] ?? '', serverSan: m[10] ?? '', clientCert: m[11] ?? '', clientSha256: m[12] ?? '', rest: m[13] ?? '' })
  }
  return out
}

export const failedAttempts = (logText: string) => logText.split('\n').filter((l) => / xds error: /.test(l))

/** The stand-in's fingerprint: the first 6 bytes of the DER's SHA-256, in hex. */
export const shortFingerprint = (pem: string) => new X509Certificate(pem).fingerprint256.replaceAll(':', '').slice(0, 12).toLowerCase()

const b64 = (s: string) => Buffer.from(s).toString('base64')
const unb64 = (s: string | undefined) => Buffer.from(s ?? '', 'base64').toString('utf8')

async function standinLog(c: TestCluster, ns: string, pod: string): Promise<string> {
  return (await c.kubectl(['-n', ns, 'logs', pod, '-c', 'envoy'])).stdout
}

/** What the stand-in did in the Envoy pod: asserted from its own log and the cluster's objects. */
export async function checkStandin(t: Test, c: TestCluster, ns: string, envoy: V1Pod, log: Log): Promise<void> {
  const name = envoy.metadata?.name ?? ''
  const service = await c.api.call<{ spec?: { clusterIP?: string } }>('GET', `/api/v1/namespaces/${ns}/services/contour`)
  // Reconnects every 500 ms: a few exchanges after Ready.
  const text = await waitFor('three xDS exchanges in the stand-in\'s log', async () => {
    const text = await standinLog(c, ns, name)
    return parseExchanges(text).length >= 3 ? text : undefined
  }, { timeoutMs: 30_000, log })
  t.match(text, /cti-envoy-standin \S+ starting: a STAND-IN, NOT ENVOY/, 'the envoy container says it is the stand-in, not Envoy')
  t.match(text, /bootstrap \/config\/envoy\.json: xds cluster "contour" at contour:8001 \(gRPC \/envoy\.service\.cluster\.v3\.ClusterDiscoveryService\/StreamClusters and \/envoy\.service\.listener\.v3\.ListenerDiscoveryService\/StreamListeners; TLS TLS_AUTO\.\.TLSv1_3, SNI none, certificates from file-based SDS \/config\/resources\/sds\/xds-tls-certificate\.json, \/config\/resources\/sds\/xds-validation-context\.json\)/,
    'it read the bootstrap contour bootstrap wrote: xDS at contour:8001 over gRPC CDS and LDS streams (Contour configures no ADS), TLS up to 1.3, certificates through the SDS files under --resources-dir')
  t.match(text, /files: first load: client cert \/etc\/tls\/envoy\/tls\.crt \(CN=envoy\)[^;]*; trusted CAs in \/etc\/tls\/ca\/ca\.crt: \d+ [^;]*; server SAN must be \[contour\]/,
    'the SDS files led it to our mounts: /etc/tls/envoy/tls.crt and /etc/tls/ca/ca.crt, server SAN contour')
  const exchanges = parseExchanges(text)
  const first = exchanges[0]
  t.equal(first?.resolvedName, `contour.${ns}.svc.cluster.local.`, 'the xDS name "contour" resolved through the search list as the Service\'s name in cluster DNS')
  t.equal(first?.ip, service.spec?.clusterIP, `to the contour Service's ClusterIP ${service.spec?.clusterIP ?? ''}`)
  t.equal(first?.port, 8001, 'port 8001')
  t.ok(exchanges.every((e) => e.tls === 'TLS 1.3' && e.alpn === 'h2'), `every exchange over TLS 1.3 (Contour's minimum), ALPN h2 (${exchanges.length} so far)`)
  t.ok(exchanges.every((e) => e.serverCert === 'CN=contour' && e.serverSan === 'contour'), 'the server certificate CN=contour verified against the trusted CAs, with the DNS SAN contour the bootstrap pins')
  t.ok(exchanges.every((e) => e.clientCert === 'CN=envoy'), 'Contour asked for the client certificate and got CN=envoy')
  const envoySecret = await c.api.call<V1Secret>('GET', `/api/v1/namespaces/${ns}/secrets/envoy-tls`)
  t.equal(first?.clientSha256, shortFingerprint(unb64(envoySecret.data?.['tls.crt'])), 'the client certificate is the one in envoy-tls')
  t.match(first?.rest, /^Cluster version "[^"]*" \d+ resources \[[^\]]*\]; Listener version "[^"]*" [1-9]\d* resources \[[^\]]*stats-health[^\]]*\]/, 'a DiscoveryResponse for clusters, ACKed, then one for listeners with Contour\'s stats listener')
  t.ok(exchanges.length >= 3 && new Set(exchanges.map((e) => e.attempt)).size === exchanges.length, 'it reconnects: a new connection and exchange per attempt')
  t.notMatch(text, /PRIVATE KEY|BEGIN CERTIFICATE/, 'no key or certificate material in its log')
  t.comment(`stand-in: ${exchanges.length} exchanges ok, ${failedAttempts(text).length} failed so far; first: ${first?.rest ?? ''}`)
}

/** A fresh CA and an Envoy client certificate it signs (openssl on the host: no product code). */
async function opensslEnvoySet(dir: string): Promise<{ ca: string; cert: string; key: string }> {
  const run = async (args: string[]) => {
    const r = await runCommand(['openssl', ...args])
    if (r.code !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`)
  }
  const f = (n: string) => join(dir, n)
  await run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '2', '-subj', '/CN=node-test second CA',
    '-addext', 'basicConstraints=critical,CA:true', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'])
  await run(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('tls.key'), '-out', f('tls.csr'), '-subj', '/CN=envoy'])
  await writeFile(f('ext'), 'basicConstraints=CA:false\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n')
  await run(['x509', '-req', '-in', f('tls.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('tls.crt'), '-days', '2', '-extfile', f('ext')])
  return { ca: await readFile(f('ca.crt'), 'utf8'), cert: await readFile(f('tls.crt'), 'utf8'), key: await readFile(f('tls.key'), 'utf8') }
}

/** The file a pod's Secret volume holds, read where the kubelet keeps it on the node. */
async function mountedFile(c: TestCluster, pod: V1Pod, secretName: string, key: string): Promise<string> {
  const volume = pod.spec?.volumes?.find((v) => v.secret?.secretName === secretName)
  if (c.info.net === undefined || volume === undefined) throw new Error(`no volume of ${secretName} in ${pod.metadata?.name ?? ''}`)
  const root = nodePaths(c.info.paths.dir, c.info.net).kubeletRoot
  return readFile(join(root, 'pods', pod.metadata?.uid ?? '', 'volumes', 'kubernetes.io~secret', volume.name, key), 'utf8')
}

/** An annotation change makes the kubelet sync the pod now rather than at its next period. */
async function nudge(c: TestCluster, ns: string, pods: readonly V1Pod[], value: string): Promise<void> {
  for (const p of pods) await c.api.call('PATCH', `/api/v1/namespaces/${ns}/pods/${p.metadata?.name ?? ''}`, { metadata: { annotations: { 'node-test/nudge': value } } }, 'application/merge-patch+json')
}

/**
 * The Secrets change under running pods: first the CA bundle gains a second CA (both sides
 * trust both), then envoy-tls gets a client certificate that only the second CA signed. The
 * kubelet swaps the volumes' ..data links; the stand-in notices each change, reads the files
 * again, and its exchanges then present the new certificate.
 */
export async function testStandinReload(t: Test, c: TestCluster, ns: string, envoy: V1Pod, contourPods: readonly V1Pod[], log: Log): Promise<void> {
  const name = envoy.metadata?.name ?? ''
  const next = await opensslEnvoySet(await c.tmpDir('second-ca'))
  const caSecret = await c.api.call<V1Secret>('GET', `/api/v1/namespaces/${ns}/secrets/contour-ca`)
  const bundle = `${unb64(caSecret.data?.['ca.crt']).trimEnd()}\n${next.ca}`
  const patch = (secret: string, data: Record<string, string>) => c.api.call('PATCH', `/api/v1/namespaces/${ns}/secrets/${secret}`, { data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])) }, 'application/merge-patch+json')

  await patch('contour-ca', { 'ca.crt': bundle })
  await nudge(c, ns, [envoy, ...contourPods], 'bundle')
  await waitFor('every Contour pod to hold the two-CA bundle', async () => {
    for (const p of contourPods) if ((await mountedFile(c, p, 'contour-ca', 'ca.crt')) !== bundle) throw new Error(`${p.metadata?.name ?? ''} still has the old bundle`)
    return true
  }, { timeoutMs: 60_000, log })
  t.pass('the kubelet put the two-CA bundle into every Contour pod (read on the node)')
  // One more CA than before: two, or three when the set is still a certgen take-over (certgen's CA beside ours).
  const cas = bundle.split('-----BEGIN CERTIFICATE-----').length - 1
  const twoCas = await waitFor('the stand-in to reload the bundle', async () => {
    const text = await standinLog(c, ns, name)
    const reload = text.split('\n').find((l) => l.includes('files: files changed:') && l.includes(`trusted CAs in /etc/tls/ca/ca.crt: ${cas} `))
    return reload
  }, { timeoutMs: 60_000, log })
  t.match(twoCas, /-> \/etc\/tls\/ca\/\.\.\d{4}_[^/]+\/ca\.crt/, `the stand-in noticed the kubelet's ..data swap and reloaded: ${cas} trusted CAs`)

  const before = await standinLog(c, ns, name)
  await patch('envoy-tls', { 'tls.crt': next.cert, 'tls.key': next.key, 'ca.crt': bundle })
  await nudge(c, ns, [envoy], 'leaf')
  const fp = shortFingerprint(next.cert)
  const after = await waitFor('an xDS exchange with the new client certificate', async () => {
    const text = await standinLog(c, ns, name)
    return parseExchanges(text).some((e) => e.clientSha256 === fp) ? text : undefined
  }, { timeoutMs: 60_000, log })
  const reload = after.split('\n').find((l) => l.includes('files: files changed:') && l.includes(`sha256 ${fp}`))
  t.match(reload, /client cert \/etc\/tls\/envoy\/tls\.crt \(CN=envoy\) serial \w+ issuer "CN=node-test second CA"/, 'the stand-in reloaded the new client certificate (issued by the second CA) from the same path')
  const newer = parseExchanges(after).filter((e) => e.clientSha256 === fp)
  t.ok(newer.length >= 1 && newer.every((e) => e.tls === 'TLS 1.3'), `xDS over TLS 1.3 with the new certificate (${newer.length} exchanges so far): Contour accepted it through the bundle`)
  const failed = failedAttempts(after).length - failedAttempts(before).length
  t.comment(`stand-in during the change: ${failed} failed attempts (the kubelet refreshes each pod's files on its own sync)`)
}
