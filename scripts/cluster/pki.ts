// The local cluster's PKI: one CA for every serving and client certificate, and the service
// account signing key. RSA keys come from Node's native keygen; node-forge lays out and signs
// the certificates (it can express the `O=system:masters` subject the admin needs).
import { generateKeyPair, randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import forge from 'node-forge'

const generateKeyPairAsync = promisify(generateKeyPair)

export interface PemPair {
  readonly cert: string
  readonly key: string
}

interface Issuer {
  readonly cert: forge.pki.Certificate
  readonly key: forge.pki.rsa.PrivateKey
}

interface LeafSpec {
  readonly commonName: string
  readonly organization?: string
  readonly dnsNames?: readonly string[]
  readonly ipAddresses?: readonly string[]
  readonly usage: 'server' | 'client' | 'both'
}

/** File names under `<state>/pki/`; other modules refer to them through this object. */
export const PkiFiles = {
  caCert: 'ca.crt',
  apiserver: 'apiserver',
  admin: 'admin',
  controllerManager: 'kube-controller-manager',
  webhook: 'webhook',
  // The real node's (`cluster:up -- --nodes`): each component with its own identity.
  kubelet: 'kubelet',
  kubeletServing: 'kubelet-serving',
  apiserverKubeletClient: 'apiserver-kubelet-client',
  scheduler: 'kube-scheduler',
  proxy: 'kube-proxy',
  coredns: 'coredns',
  serviceAccountKey: 'sa.key',
  serviceAccountPub: 'sa.pub',
} as const

export interface ClusterPki {
  readonly dir: string
  readonly caCert: string
  readonly apiserver: PemPair
  readonly admin: PemPair
  readonly controllerManager: PemPair
  readonly webhook: PemPair
  /** Undefined for a PKI made before the real node existed (delete `pki/` to get them). */
  readonly node: NodePki | undefined
}

export interface NodePki {
  readonly kubelet: PemPair
  readonly kubeletServing: PemPair
  readonly apiserverKubeletClient: PemPair
  readonly scheduler: PemPair
  readonly proxy: PemPair
  readonly coredns: PemPair
}

/** The Node's name, as the kubelet's certificate (`system:node:<name>`) fixes it. */
export const NODE_NAME = 'cti-node'

async function rsaKeys(): Promise<{ publicPem: string; privatePem: string }> {
  const { publicKey, privateKey } = await generateKeyPairAsync('rsa', { modulusLength: 2048, publicExponent: 0x10001 })
  return {
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  }
}

function serial(): string {
  const bytes = randomBytes(16)
  bytes.writeUInt8(bytes.readUInt8(0) & 0x7f || 0x01, 0)
  return bytes.toString('hex')
}

function baseCertificate(publicPem: string, subject: forge.pki.CertificateField[], days: number): forge.pki.Certificate {
  const cert = forge.pki.createCertificate()
  cert.publicKey = forge.pki.publicKeyFromPem(publicPem)
  cert.serialNumber = serial()
  cert.validity.notBefore = new Date(Date.now() - 5 * 60_000)
  cert.validity.notAfter = new Date(Date.now() + days * 86_400_000)
  cert.setSubject(subject)
  return cert
}

async function createCa(): Promise<Issuer & { pem: string }> {
  const keys = await rsaKeys()
  const cert = baseCertificate(keys.publicPem, [{ name: 'commonName', value: 'contour-tls-injector local cluster CA' }], 365)
  cert.setIssuer(cert.subject.attributes)
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ])
  const key = forge.pki.privateKeyFromPem(keys.privatePem) as forge.pki.rsa.PrivateKey
  cert.sign(key, forge.md.sha256.create())
  return { cert, key, pem: forge.pki.certificateToPem(cert) }
}

async function issueLeaf(issuer: Issuer, spec: LeafSpec): Promise<PemPair> {
  const keys = await rsaKeys()
  const subject: forge.pki.CertificateField[] = [{ name: 'commonName', value: spec.commonName }]
  if (spec.organization !== undefined) subject.unshift({ name: 'organizationName', value: spec.organization })
  const cert = baseCertificate(keys.publicPem, subject, 365)
  cert.setIssuer(issuer.cert.subject.attributes)
  const altNames = [
    ...(spec.dnsNames ?? []).map((value) => ({ type: 2, value })),
    ...(spec.ipAddresses ?? []).map((ip) => ({ type: 7, ip })),
  ]
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: spec.usage !== 'client', clientAuth: spec.usage !== 'server' },
    ...(altNames.length > 0 ? [{ name: 'subjectAltName', altNames }] : []),
  ])
  cert.sign(issuer.key, forge.md.sha256.create())
  return { cert: forge.pki.certificateToPem(cert), key: keys.privatePem }
}

async function exists(path: string): Promise<boolean> {
  return readFile(path).then(() => true, () => false)
}

/**
 * Creates the PKI once; later calls read it back. The CA key is never written: every
 * certificate is issued in this one call, and a new cluster PKI means deleting `pki/`.
 */
export async function ensurePki(dir: string, serviceIp: string, nodeAddress: string): Promise<ClusterPki> {
  const pair = async (name: string): Promise<PemPair> => ({
    cert: await readFile(join(dir, `${name}.crt`), 'utf8'),
    key: await readFile(join(dir, `${name}.key`), 'utf8'),
  })
  const complete = await exists(join(dir, PkiFiles.serviceAccountPub))
  if (!complete) {
    await mkdir(dir, { recursive: true, mode: 0o700 })
    const ca = await createCa()
    const [apiserver, admin, controllerManager, webhook, sa] = await Promise.all([
      issueLeaf(ca, {
        commonName: 'kube-apiserver',
        dnsNames: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'],
        ipAddresses: ['127.0.0.1', serviceIp, nodeAddress],
        usage: 'server',
      }),
      issueLeaf(ca, { commonName: 'cti-admin', organization: 'system:masters', usage: 'client' }),
      issueLeaf(ca, { commonName: 'system:kube-controller-manager', usage: 'client' }),
      issueLeaf(ca, { commonName: 'contour-tls-injector webhook', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', nodeAddress], usage: 'server' }),
      rsaKeys(),
    ])
    const node = await Promise.all([
      issueLeaf(ca, { commonName: `system:node:${NODE_NAME}`, organization: 'system:nodes', usage: 'client' }),
      issueLeaf(ca, { commonName: NODE_NAME, dnsNames: [NODE_NAME], ipAddresses: [nodeAddress], usage: 'server' }),
      issueLeaf(ca, { commonName: 'kube-apiserver-kubelet-client', organization: 'system:masters', usage: 'client' }),
      issueLeaf(ca, { commonName: 'system:kube-scheduler', usage: 'client' }),
      issueLeaf(ca, { commonName: 'system:kube-proxy', usage: 'client' }),
      issueLeaf(ca, { commonName: 'system:coredns', usage: 'client' }),
    ])
    const nodeNames = [PkiFiles.kubelet, PkiFiles.kubeletServing, PkiFiles.apiserverKubeletClient, PkiFiles.scheduler, PkiFiles.proxy, PkiFiles.coredns] as const
    const write = (name: string, data: string, mode = 0o600) => writeFile(join(dir, name), data, { mode })
    await write(PkiFiles.caCert, ca.pem, 0o644)
    for (const [name, p] of [[PkiFiles.apiserver, apiserver], [PkiFiles.admin, admin], [PkiFiles.controllerManager, controllerManager], [PkiFiles.webhook, webhook]] as const) {
      await write(`${name}.crt`, p.cert, 0o644)
      await write(`${name}.key`, p.key)
    }
    for (const [i, name] of nodeNames.entries()) {
      const p = node[i]
      if (p === undefined) continue
      await write(`${name}.crt`, p.cert, 0o644)
      await write(`${name}.key`, p.key)
    }
    await write(PkiFiles.serviceAccountKey, sa.privatePem)
    // Written last: its presence marks a complete PKI directory.
    await write(PkiFiles.serviceAccountPub, sa.publicPem, 0o644)
  }
  return {
    dir,
    caCert: await readFile(join(dir, PkiFiles.caCert), 'utf8'),
    apiserver: await pair(PkiFiles.apiserver),
    admin: await pair(PkiFiles.admin),
    controllerManager: await pair(PkiFiles.controllerManager),
    webhook: await pair(PkiFiles.webhook),
    node: (await exists(join(dir, `${PkiFiles.coredns}.key`)))
      ? {
          kubelet: await pair(PkiFiles.kubelet),
          kubeletServing: await pair(PkiFiles.kubeletServing),
          apiserverKubeletClient: await pair(PkiFiles.apiserverKubeletClient),
          scheduler: await pair(PkiFiles.scheduler),
          proxy: await pair(PkiFiles.proxy),
          coredns: await pair(PkiFiles.coredns),
        }
      : undefined,
  }
}

export function pkiPath(dir: string, name: string, kind: 'crt' | 'key'): string {
  return join(dir, `${name}.${kind}`)
}
