// `contour-tls-injector status`: reads the sets in a namespace with the caller's kubeconfig (list
// and get on Secrets there; an admin's tool, not part of any pod) and prints them
// (describe-sets.ts). Exit 0 when every set is healthy or only due for renewal, 3 when a set is
// incomplete, expired or invalid, 1 when the API cannot be read, 2 on a usage error.
import { CoreV1Api } from '@kubernetes/client-node'
import type { CliIO } from '../cli/io.ts'
import { formatHelp, parseFlags, type FlagSpec } from '../cli/parse-flags.ts'
import { DEFAULT_SECRET_NAMES } from '../core/injection/types.ts'
import { InjectorError } from '../errors.ts'
import { loadKubeTarget } from '../kube/kube-config.ts'
import { fromV1Secret } from '../kube/secret-json.ts'
import { MANAGED_BY } from '../bootstrap/secret-model.ts'
import { describeSets, formatStatus } from './describe-sets.ts'

export const statusFlags = {
  kubeconfig: { type: 'string', env: 'KUBECONFIG', help: 'kubeconfig to use (default: in-cluster service account)' },
  namespace: { type: 'string', help: 'namespace whose sets are shown (default: the kubeconfig context\'s)' },
  output: { type: 'string', default: 'text', help: 'text or json' },
  'contour-secret': { type: 'string', default: DEFAULT_SECRET_NAMES.contour, help: 'name of the Contour Secret (before an instance suffix)' },
  'envoy-secret': { type: 'string', default: DEFAULT_SECRET_NAMES.envoy, help: 'name of the Envoy Secret (before an instance suffix)' },
  'ca-secret': { type: 'string', default: DEFAULT_SECRET_NAMES.ca, help: 'name of the CA Secret (before an instance suffix)' },
  help: { type: 'boolean', help: 'Show this help' },
} as const satisfies Record<string, FlagSpec>

const help = formatHelp('Usage: contour-tls-injector status [flags]\n\nPrints every TLS set in a namespace: the CAs of its trust bundle, the leaves\' expiry, its state, the rotation tokens, and what comes next and when.', statusFlags)

export async function runStatus(args: string[], io: CliIO, now: () => Date = () => new Date()): Promise<number> {
  let values
  try {
    values = parseFlags(args, statusFlags, io.env).values
  } catch (err) {
    io.stderr.write(`contour-tls-injector status: ${(err as Error).message} (${(err as InjectorError).code})\n`)
    return 2
  }
  if (values.help === true) {
    io.stdout.write(help)
    return 0
  }
  const output = String(values.output)
  if (output !== 'text' && output !== 'json') {
    io.stderr.write(`contour-tls-injector status: --output: must be text or json (ERR_CONFIG)\n`)
    return 2
  }
  try {
    const target = loadKubeTarget({ kubeconfig: values.kubeconfig as string | undefined, namespace: values.namespace as string | undefined, env: io.env })
    const api = target.kubeConfig.makeApiClient(CoreV1Api)
    const list = await api.listNamespacedSecret({ namespace: target.namespace, labelSelector: `${MANAGED_BY.key}=${MANAGED_BY.value}` })
    const names = { contour: String(values['contour-secret']), envoy: String(values['envoy-secret']), ca: String(values['ca-secret']) }
    const sets = describeSets(list.items.map(fromV1Secret), names, now())
    io.stdout.write(output === 'json' ? `${JSON.stringify({ namespace: target.namespace, sets }, null, 2)}\n` : formatStatus(target.namespace, sets))
    return sets.some((set) => set.health !== 'ok' && set.health !== 'renewal-due') ? 3 : 0
  } catch (err) {
    const code = (err as InjectorError).code ?? 'ERR_API'
    const status = (err as { code?: unknown }).code
    io.stderr.write(`contour-tls-injector status: ${typeof status === 'number' ? `the API answered ${status} listing Secrets` : (err as Error).message} (${typeof status === 'number' ? 'ERR_API' : code})\n`)
    return 1
  }
}
