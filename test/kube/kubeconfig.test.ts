// The kubeconfig reader bootstrap-tls uses instead of client-node: each supported shape, the
// shapes it leaves to client-node, and the kubeconfigs it refuses with ERR_CONFIG.
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { parseKubeconfig, readKubeconfig, type ParsedKubeconfig } from '../../src/kube/kubeconfig.ts'

const dir = await mkdtemp(join(tmpdir(), 'kubeconfig-shapes-'))
const FILE = join(dir, 'config')
const b64 = (s: string): string => Buffer.from(s).toString('base64')

function kubeconfig(cluster: Record<string, unknown>, user: Record<string, unknown> | null, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'c1', cluster }],
    users: [{ name: 'u1', user }],
    contexts: [{ name: 'ctx1', context: { cluster: 'c1', user: 'u1', namespace: 'ns1' } }],
    'current-context': 'ctx1',
    ...extra,
  }
}

function supported(t: Test, parsed: ParsedKubeconfig): Extract<ParsedKubeconfig, { supported: true }> {
  if (!parsed.supported) {
    t.fail(`expected a supported shape, got: ${parsed.reason}`)
    throw new Error(parsed.reason)
  }
  return parsed
}

t.test('token user, certificate-authority-data, namespace from the current context', async (t) => {
  const p = supported(t, parseKubeconfig(kubeconfig({ server: 'https://10.0.0.1:6443/', 'certificate-authority-data': b64('CA PEM') }, { token: 'tok' }), FILE))
  t.equal(p.context, 'ctx1')
  t.equal(p.namespace, 'ns1')
  t.equal(p.cluster.server.href, 'https://10.0.0.1:6443/')
  t.equal(p.cluster.ca?.toString(), 'CA PEM')
  t.equal(p.cluster.insecureSkipTlsVerify, false)
  t.equal(p.cluster.tlsServerName, undefined)
  t.match(p.user, { name: 'u1', token: 'tok', tokenFile: undefined, cert: undefined, key: undefined })
})

t.test('files are read relative to the kubeconfig\'s directory; -data wins over a file, as in client-go', async (t) => {
  const sub = join(dir, 'rel')
  await mkdir(join(sub, 'pki'), { recursive: true })
  await writeFile(join(sub, 'pki', 'ca.crt'), 'CA FROM FILE')
  await writeFile(join(sub, 'pki', 'client.crt'), 'CERT FROM FILE')
  await writeFile(join(sub, 'pki', 'client.key'), 'KEY FROM FILE')
  await writeFile(join(sub, 'token'), 'tok-from-file\n')
  const file = join(sub, 'config')
  const p = supported(t, parseKubeconfig(kubeconfig(
    { server: 'https://h:6443', 'certificate-authority': 'pki/ca.crt' },
    { 'client-certificate': 'pki/client.crt', 'client-key': join(sub, 'pki', 'client.key'), tokenFile: 'token' },
  ), file))
  t.equal(p.cluster.ca?.toString(), 'CA FROM FILE')
  t.equal(p.user.cert?.toString(), 'CERT FROM FILE')
  t.equal(p.user.key?.toString(), 'KEY FROM FILE', 'absolute paths stay as they are')
  t.equal(p.user.tokenFile, join(sub, 'token'), 'tokenFile is resolved, and read per request later')
  const both = supported(t, parseKubeconfig(kubeconfig(
    { server: 'https://h', 'certificate-authority': 'pki/ca.crt', 'certificate-authority-data': b64('CA FROM DATA') },
    { 'client-certificate-data': b64('CERT DATA'), 'client-key-data': b64('KEY DATA') },
  ), file))
  t.equal(both.cluster.ca?.toString(), 'CA FROM DATA')
  t.equal(both.user.cert?.toString(), 'CERT DATA')
  t.equal(both.user.key?.toString(), 'KEY DATA')
})

t.test('insecure-skip-tls-verify, tls-server-name, and plain HTTP only with the former', async (t) => {
  const p = supported(t, parseKubeconfig(kubeconfig({ server: 'https://127.0.0.1:6443', 'insecure-skip-tls-verify': true, 'tls-server-name': 'kubernetes.default.svc' }, { token: 'x' }), FILE))
  t.equal(p.cluster.insecureSkipTlsVerify, true)
  t.equal(p.cluster.tlsServerName, 'kubernetes.default.svc')
  t.equal(p.cluster.ca, undefined, 'no CA: the system trust store')
  const http = supported(t, parseKubeconfig(kubeconfig({ server: 'http://127.0.0.1:8080', 'insecure-skip-tls-verify': true }, { token: 'x' }), FILE))
  t.equal(http.cluster.server.protocol, 'http:')
  t.throws(() => parseKubeconfig(kubeconfig({ server: 'http://127.0.0.1:8080' }, { token: 'x' }), FILE), { code: 'ERR_CONFIG', message: /plain HTTP; set insecure-skip-tls-verify/ })
})

t.test('the only context is used when current-context is unset; an anonymous user is allowed', async (t) => {
  const doc = kubeconfig({ server: 'https://h' }, null)
  delete doc['current-context']
  const p = supported(t, parseKubeconfig(doc, FILE))
  t.equal(p.context, 'ctx1')
  t.match(p.user, { name: 'u1', token: undefined, cert: undefined })
  const noUser = { ...doc, contexts: [{ name: 'ctx1', context: { cluster: 'c1' } }] }
  t.equal(supported(t, parseKubeconfig(noUser, FILE)).user.name, '', 'a context without a user')
  t.ok(supported(t, parseKubeconfig(kubeconfig({ server: 'https://h', 'proxy-url': null, extensions: [] }, { exec: null, token: 'x' }), FILE)), 'null fields are absent fields')
})

t.test('shapes left to client-node: exec, auth-provider, basic auth, impersonation, proxies, unknown fields', async (t) => {
  const cases: Array<[string, Record<string, unknown>, Record<string, unknown>, RegExp]> = [
    ['exec', { server: 'https://h' }, { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'aws' } }, /user "u1" uses exec/],
    ['auth-provider', { server: 'https://h' }, { 'auth-provider': { name: 'oidc', config: {} } }, /user "u1" uses auth-provider/],
    ['username/password', { server: 'https://h' }, { username: 'alice', password: 'secret' }, /user "u1" uses username, password/],
    ['impersonation', { server: 'https://h' }, { token: 'x', as: 'bob' }, /user "u1" uses as/],
    ['proxy-url', { server: 'https://h', 'proxy-url': 'http://proxy:3128' }, { token: 'x' }, /cluster "c1" uses proxy-url/],
    ['an unknown cluster field', { server: 'https://h', 'future-thing': true }, { token: 'x' }, /cluster "c1" uses future-thing/],
  ]
  for (const [what, cluster, user, reason] of cases) {
    const p = parseKubeconfig(kubeconfig(cluster, user), FILE)
    t.equal(p.supported, false, what)
    if (!p.supported) t.match(p.reason, reason, what)
  }
})

t.test('unusable kubeconfigs: ERR_CONFIG naming the file and the problem', async (t) => {
  const bad = (doc: unknown, message: RegExp, what: string): void => {
    t.throws(() => parseKubeconfig(doc, FILE), { code: 'ERR_CONFIG', message }, what)
  }
  bad('just a string', /not a kubeconfig/, 'not a mapping')
  bad(kubeconfig({ server: 'https://h' }, { token: 'x' }, { 'current-context': 'nope' }), /kubeconfig .*config has no current context with a cluster/, 'current-context names no context')
  const two = kubeconfig({ server: 'https://h' }, { token: 'x' }, { contexts: [{ name: 'a', context: { cluster: 'c1' } }, { name: 'b', context: { cluster: 'c1' } }] })
  delete two['current-context']
  bad(two, /no current context with a cluster \(no current-context among 2 contexts\)/, 'several contexts, none current')
  bad(kubeconfig({ server: 'https://h' }, { token: 'x' }, { clusters: [] }), /no current context with a cluster/, 'the context names a missing cluster')
  bad(kubeconfig({}, { token: 'x' }), /cluster "c1" has no server/, 'no server')
  bad(kubeconfig({ server: 'not a url' }, { token: 'x' }), /server "not a url" is not a URL/, 'server not a URL')
  bad(kubeconfig({ server: 'ftp://h' }, { token: 'x' }), /neither https nor http/, 'server not HTTP(S)')
  bad(kubeconfig({ server: 'https://h' }, { token: 'x' }, { users: [] }), /context "ctx1" names user "u1", which is not defined/, 'missing user')
  bad(kubeconfig({ server: 'https://h', 'certificate-authority': 'missing/ca.crt' }, { token: 'x' }), /cannot read certificate-authority .*missing\/ca\.crt: ENOENT/, 'missing CA file')
  bad(kubeconfig({ server: 'https://h' }, { 'client-certificate-data': b64('c') }), /has a client certificate but no client-key/, 'certificate without key')
  bad(kubeconfig({ server: 'https://h' }, { 'client-key-data': b64('k') }), /has a client key but no client-certificate/, 'key without certificate')
  bad(kubeconfig({ server: 'https://h' }, { tokenFile: 'missing-token' }), /cannot read tokenFile .*missing-token: ENOENT/, 'missing token file')
})

t.test('readKubeconfig: YAML as kubectl writes it, JSON, and files that are not kubeconfigs', async (t) => {
  const yamlFile = join(dir, 'kubectl.yaml')
  await writeFile(yamlFile, [
    'apiVersion: v1',
    'clusters:',
    '- cluster:',
    `    certificate-authority-data: ${b64('YAML CA')}`,
    '    server: https://127.0.0.1:6443',
    '  name: local',
    'contexts:',
    '- context:',
    '    cluster: local',
    '    namespace: projectcontour',
    '    user: admin',
    '  name: local',
    'current-context: local',
    'kind: Config',
    'preferences: {}',
    'users:',
    '- name: admin',
    '  user:',
    '    token: yaml-token',
    '',
  ].join('\n'))
  const p = supported(t, await readKubeconfig(yamlFile))
  t.match(p, { context: 'local', namespace: 'projectcontour', user: { name: 'admin', token: 'yaml-token' } })
  t.equal(p.cluster.ca?.toString(), 'YAML CA')
  const jsonFile = join(dir, 'json')
  await writeFile(jsonFile, JSON.stringify(kubeconfig({ server: 'https://h' }, { token: 'json-token' })))
  t.equal(supported(t, await readKubeconfig(jsonFile)).user.token, 'json-token')
  const flow = join(dir, 'flow.yaml')
  await writeFile(flow, "{clusters: [{name: c1, cluster: {server: 'https://h'}}], users: [{name: u1, user: {token: flow-token}}], contexts: [{name: x, context: {cluster: c1, user: u1}}]}\n")
  t.equal(supported(t, await readKubeconfig(flow)).user.token, 'flow-token', 'a YAML flow mapping is not JSON: the YAML parser reads it')
  const garbage = join(dir, 'garbage')
  await writeFile(garbage, 'clusters: [unclosed\n  - : :')
  await t.rejects(readKubeconfig(garbage), { code: 'ERR_CONFIG', message: /cannot load kubeconfig .*garbage: / })
  await t.rejects(readKubeconfig(join(dir, 'absent')), { code: 'ERR_CONFIG', message: /cannot load kubeconfig .*absent: ENOENT/ })
})
