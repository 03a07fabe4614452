#!/usr/bin/env node
// The only place that touches process.argv, signals and process.exit.
import { main } from './cli/main.ts'

const stop = new AbortController()
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => stop.abort(signal))
}

const code = await main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  stopSignal: stop.signal,
})
process.exitCode = code
// Long-running commands have closed their handles by now; exit explicitly so a stray timer can't hold us.
process.exit(code)
