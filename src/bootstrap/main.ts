// `contour-tls-injector bootstrap-tls`: parses the flags, runs one role, maps errors to exit
// codes. The contour role and --out-dir are imported lazily: the envoy role and --probe must not load
// @kubernetes/client-node or node-forge (see test/bootstrap/envoy-role.test.ts).
import type { CliIO } from '../cli/io.ts'
import { systemClock } from './clock.ts'
import { HELP, parseBootstrapConfig } from './config.ts'
import type { BootstrapContext, BootstrapDeps } from './context.ts'
import { exitCodeFor, ExitCodes } from './exit-codes.ts'
import { createLog } from './log.ts'
import { runEnvoyRole } from './run-envoy.ts'
import { runProbe } from './run-probe.ts'

export type { BootstrapDeps }

export async function runBootstrapTls(args: string[], io: CliIO, deps: BootstrapDeps = {}): Promise<number> {
  const log = createLog(io.stderr)
  const ctx: BootstrapContext = { ...deps, clock: deps.clock ?? systemClock, log, env: io.env, stdout: io.stdout, signal: io.stopSignal }
  try {
    const config = parseBootstrapConfig(args, io.env)
    switch (config.mode) {
      case 'help':
        io.stdout.write(HELP)
        return ExitCodes.OK
      case 'envoy':
        await runEnvoyRole(config, ctx)
        break
      case 'probe':
        await runProbe(config, ctx)
        break
      case 'contour':
        await (await import('./run-contour.ts')).runContourRole(config, ctx)
        break
      case 'out-dir':
        await (await import('./run-out-dir.ts')).runOutDir(config, ctx)
        break
    }
    return ExitCodes.OK
  } catch (err) {
    const code = (err as { code?: unknown }).code
    const stable = typeof code === 'string' && code.startsWith('ERR_') ? code : 'ERR_UNEXPECTED'
    log(`error ${stable}: ${err instanceof Error ? err.message : String(err)}`)
    if (stable === 'ERR_USAGE') io.stderr.write('Run "contour-tls-injector bootstrap-tls --help" for the flags.\n')
    return exitCodeFor(stable)
  }
}
