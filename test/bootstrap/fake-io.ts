// A CliIO that records everything written, for in-process runs of the CLI.
import type { CliIO } from '../../src/cli/io.ts'

export interface RecordingIO extends CliIO {
  readonly out: () => string
  readonly err: () => string
}

export function recordingIO(env: Record<string, string | undefined> = {}, stopSignal?: AbortSignal): RecordingIO {
  const out: string[] = []
  const err: string[] = []
  return {
    stdout: { write: (c: string) => out.push(c) },
    stderr: { write: (c: string) => err.push(c) },
    env,
    stopSignal,
    out: () => out.join(''),
    err: () => err.join(''),
  }
}
