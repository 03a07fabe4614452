// Real TLS 1.3 with client-certificate verification, as between Contour (server) and Envoy
// (client): the issued set is proven by handshakes, not by its shape.
import type tls from 'node:tls'
import t from 'tap'
import { issueCertificateSet, issueCertificateSetWithOverrides } from '../../../src/core/certs/issue-set.ts'
import type { CertificateSet } from '../../../src/core/certs/types.ts'
import { runHandshake } from './handshake-helpers.ts'

const DAY = 24 * 60 * 60 * 1000
const ns = { namespace: 'projectcontour' }

const set = await issueCertificateSet(ns)
const stranger = await issueCertificateSet(ns)

/** Contour's side: TLS 1.3 only, a client certificate signed by the CA required. */
function contourServer(s: CertificateSet, overrides: tls.TlsOptions = {}): tls.TlsOptions {
  return {
    key: s.contourKey,
    cert: s.contourCert,
    ca: s.caCert,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.3',
    ...overrides,
  }
}

/** Envoy's side: verifies the server as `contour`, the name its bootstrap pins. */
function envoyClient(s: CertificateSet, overrides: tls.ConnectionOptions = {}): tls.ConnectionOptions {
  return {
    servername: 'contour',
    ca: s.caCert,
    cert: s.envoyCert,
    key: s.envoyKey,
    minVersion: 'TLSv1.3',
    ...overrides,
  }
}

t.test('mutual TLS 1.3 succeeds with an issued set', async (t) => {
  const { server, client } = await runHandshake(contourServer(set), envoyClient(set))
  t.match(server, { secured: true, authorized: true, protocol: 'TLSv1.3', peerCommonName: 'envoy' })
  t.match(client, { secured: true, authorized: true, protocol: 'TLSv1.3', received: 'hello from contour' })
  t.equal(client.errorCode, undefined)
})

t.test('the server name Envoy pins works whatever the Service is called', async (t) => {
  const renamed = await issueCertificateSet({ namespace: 'edge', serviceName: 'xds' })
  for (const servername of ['contour', 'xds.edge.svc.cluster.local']) {
    const { server, client } = await runHandshake(contourServer(renamed), envoyClient(renamed, { servername }))
    t.match(client, { authorized: true, received: 'hello from contour' }, servername)
    t.match(server, { authorized: true }, servername)
  }
})

t.test('refused: a client without a certificate', async (t) => {
  const noCert = { cert: undefined, key: undefined }
  const { server, client } = await runHandshake(contourServer(set), envoyClient(set, noCert))
  t.match(server, { secured: false, errorCode: 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE' })
  t.equal(client.received, '', 'no application data reached the client')
})

t.test('refused: a client certificate from another CA', async (t) => {
  const foreign = envoyClient(set, { cert: stranger.envoyCert, key: stranger.envoyKey })
  const strict = await runHandshake(contourServer(set), foreign)
  t.equal(strict.server.secured, false, 'the server dropped the connection')
  t.equal(strict.client.received, '')
  // The same client against a server that reports instead of dropping: why it was refused.
  const lenient = await runHandshake(contourServer(set, { rejectUnauthorized: false }), foreign)
  t.match(lenient.server, { secured: true, authorized: false, authorizationError: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' })
})

t.test('refused: the client verifies a name the Contour certificate does not carry', async (t) => {
  const { server, client } = await runHandshake(contourServer(set), envoyClient(set, { servername: 'envoy' }))
  t.match(client, { secured: false, errorCode: 'ERR_TLS_CERT_ALTNAME_INVALID' })
  t.equal(server.secured, false)
})

t.test('refused: the client distrusts a server certificate from another CA', async (t) => {
  const { client } = await runHandshake(contourServer(set), envoyClient(set, { ca: stranger.caCert }))
  // OpenSSL sends the server's CA along with its leaf (it is in the server's `ca`), hence this code.
  t.match(client, { secured: false, errorCode: /^(SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE)$/ })
})

t.test('refused: expired leaves, on either side', async (t) => {
  const expired = await issueCertificateSet({ ...ns, now: new Date(Date.now() - 10 * DAY), lifetimeDays: 1 })
  const asServer = await runHandshake(contourServer(expired), envoyClient(expired))
  t.match(asServer.client, { secured: false, errorCode: 'CERT_HAS_EXPIRED' }, 'Envoy refuses an expired Contour leaf')
  t.equal(asServer.server.secured, false)

  const past = { notBefore: new Date(Date.now() - 10 * DAY), notAfter: new Date(Date.now() - DAY) }
  const staleEnvoy = await issueCertificateSetWithOverrides(ns, { envoy: past })
  const strict = await runHandshake(contourServer(staleEnvoy), envoyClient(staleEnvoy))
  t.equal(strict.server.secured, false, 'Contour drops an expired Envoy leaf')
  t.equal(strict.client.received, '')
  const lenient = await runHandshake(contourServer(staleEnvoy, { rejectUnauthorized: false }), envoyClient(staleEnvoy))
  t.match(lenient.server, { authorized: false, authorizationError: 'CERT_HAS_EXPIRED' })
})

t.test('refused: TLS 1.2 is not offered by a TLS 1.3-only server', async (t) => {
  const old = envoyClient(set, { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' })
  const { server, client } = await runHandshake(contourServer(set), old)
  t.equal(server.secured, false)
  t.equal(client.secured, false)
  t.ok(client.errorCode, `client error ${client.errorCode}`)
})

t.test('trust bundles: during an overlap, leaves of the old CA and of the next one handshake in both directions', async (t) => {
  const next = await issueCertificateSet(ns)
  // ca.crt as the rotation writes it: the CA of the pod's leaves first, the other one trusted too.
  const oldPod = { ...set, caCert: `${set.caCert.trim()}\n${next.caCert}` }
  const newPod = { ...next, caCert: `${next.caCert.trim()}\n${set.caCert}` }
  for (const [server, client, label] of [[oldPod, newPod, 'old Contour, new Envoy'], [newPod, oldPod, 'new Contour, old Envoy'], [oldPod, oldPod, 'both old'], [newPod, newPod, 'both new']] as const) {
    const result = await runHandshake(contourServer(server), envoyClient(client))
    t.match(result.server, { secured: true, authorized: true, protocol: 'TLSv1.3' }, `${label}: Contour accepts the Envoy leaf`)
    t.match(result.client, { authorized: true, received: 'hello from contour' }, `${label}: Envoy accepts the Contour leaf`)
  }
  // Without the overlap the same pair fails: the bundle is what makes the switch safe.
  const plain = await runHandshake(contourServer(set), envoyClient(next))
  t.equal(plain.server.secured, false, 'single CAs of different sets do not handshake')
})
