// Dispatches `contour-tls-injector <command>`. Commands are imported lazily so the init container's
// `bootstrap-tls --role=envoy` never pays for loading fastify or the Kubernetes client.
import type { CliIO, Command } from './io.ts'
import { VERSION } from '../version.ts'

const commands: Record<string, () => Promise<Command>> = {
  webhook: async () => (await import('../webhook/main.ts')).runWebhook,
  'bootstrap-tls': async () => (await import('../bootstrap/main.ts')).runBootstrapTls,
  status: async () => (await import('../status/main.ts')).runStatus,
}

const usage = `Usage: contour-tls-injector <command> [flags]

Commands:
  webhook         Serve the mutating admission webhook (HTTPS).
  bootstrap-tls   Init container: ensure the TLS Secrets and wait for the mounted files.
  status          Print the TLS sets of a namespace: trust bundle, expiry, state, what comes next.
  version         Print the version.

Run 'contour-tls-injector <command> --help' for the flags of a command.
`

export async function main(argv: string[], io: CliIO): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(usage)
    return name === undefined ? 2 : 0
  }
  if (name === 'version' || name === '--version') {
    io.stdout.write(`contour-tls-injector ${VERSION}\n`)
    return 0
  }
  const load = commands[name]
  if (load === undefined) {
    io.stderr.write(`contour-tls-injector: unknown command "${name}" (ERR_USAGE)\n\n${usage}`)
    return 2
  }
  const run = await load()
  return run(rest, io)
}
