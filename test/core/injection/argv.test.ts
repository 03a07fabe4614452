import t from 'tap'
import { ArgvKinds, basenameOf, classifyArgv, findSubcommand, mentionsContourOrEnvoy } from '../../../src/core/injection/argv.ts'

t.test('contour serve and contour bootstrap, in every shape real manifests use', async (t) => {
  const cases: [string[], string][] = [
    [['contour', 'serve', '--incluster'], ArgvKinds.contourServe],
    [['/bin/contour', 'serve'], ArgvKinds.contourServe],
    [['/usr/local/bin/contour', 'serve', '--insecure'], ArgvKinds.contourServe],
    [['contour', '--log-format=json', 'serve'], ArgvKinds.contourServe],
    [['contour', 'bootstrap', '/config/envoy.json', '--xds-address', 'contour', '--xds-port', '8001'], ArgvKinds.contourBootstrap],
    [['contour', 'bootstrap', '/config/envoy.json', '--xds-address=contour'], ArgvKinds.contourBootstrap],
  ]
  for (const [argv, kind] of cases) t.equal(classifyArgv(argv), kind, argv.join(' '))
})

t.test('other contour subcommands and look-alikes are not ours', async (t) => {
  const others: string[][] = [
    [],
    ['contour'],
    ['contour', 'certgen', '--kube'],
    ['/bin/contour', 'envoy', 'shutdown-manager'],
    ['/bin/contour', 'envoy', 'shutdown'],
    ['contour-serve'],
    ['contourd', 'serve'],
    ['serve', '--incluster'],
    ['nginx', '-g', 'daemon off;'],
    ['envoy-wrapper', '-c', 'x'],
    // The rule reads the first non-flag token as the subcommand (kingpin puts it first): a
    // separate flag value before it is read as the subcommand, and the pod is left alone.
    ['contour', '--kubeconfig', '/k', 'serve'],
  ]
  for (const argv of others) t.equal(classifyArgv(argv), ArgvKinds.other, JSON.stringify(argv))
})

t.test('envoy by the executable basename', async (t) => {
  t.equal(classifyArgv(['envoy', '-c', '/config/envoy.json']), ArgvKinds.envoy)
  t.equal(classifyArgv(['/usr/local/bin/envoy']), ArgvKinds.envoy)
})

t.test('shells and launchers that run contour or envoy are shell-wrapped', async (t) => {
  const wrapped: string[][] = [
    ['sh', '-c', 'contour serve --insecure'],
    ['/bin/bash', '-ec', 'exec envoy -c /config/envoy.json'],
    ['bash', '--login', '-c', 'FOO=1 exec /bin/contour bootstrap /config/envoy.json'],
    ['sh', '-c', 'echo starting && envoy -c /config/envoy.json'],
    ['sh', '-c', 'sleep 1; contour serve'],
    ['sh', '-c', 'while true; do envoy -c /config/envoy.json; done'],
    ['sh', '-c', "sh -c 'contour serve --incluster'"],
    ['/usr/bin/tini', '--', 'contour', 'serve'],
    ['env', 'GODEBUG=x509ignoreCN=0', 'contour', 'serve'],
    ['dumb-init', 'sh', '-c', 'envoy -c x'],
  ]
  for (const argv of wrapped) t.equal(classifyArgv(argv), ArgvKinds.shellWrapped, JSON.stringify(argv))
})

t.test('shells that do something else are not wrapped', async (t) => {
  const plain: string[][] = [
    ['sh', '-c', 'tail -f /var/log/envoy'],
    ['sh', '-c', 'contour envoy shutdown-manager'],
    ['sh', '-c', 'until [ -f /config/contour.yaml ]; do sleep 1; done'],
    ['sh', '/scripts/contour-serve.sh'],
    ['bash', '-c', '--', 'echo', '-ne', 'POST /healthcheck/fail HTTP/1.1\r\n', '>/dev/tcp/localhost/9001'],
    ['tini', '--', 'nginx'],
    ['sh', '-c', 'while true; do curl -s envoy:9001/ready; sleep 5; done'],
  ]
  for (const argv of plain) t.equal(classifyArgv(argv), ArgvKinds.other, JSON.stringify(argv))
})

t.test('helpers', async (t) => {
  t.equal(basenameOf('/bin/contour'), 'contour')
  t.equal(basenameOf('contour'), 'contour')
  t.equal(findSubcommand(['contour', '--a=b', 'serve', 'x']), 'serve')
  t.equal(findSubcommand(['contour', '--debug']), undefined)
  t.ok(mentionsContourOrEnvoy('x=1; nohup envoy'))
  t.notOk(mentionsContourOrEnvoy('echo envoy'))
})
