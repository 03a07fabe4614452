// What a command may touch of its process: passed in, so tests run commands in-process.
export interface CliIO {
  readonly stdout: { write(chunk: string): unknown }
  readonly stderr: { write(chunk: string): unknown }
  readonly env: Readonly<Record<string, string | undefined>>
  /** Resolves when the process is asked to stop (SIGTERM/SIGINT); long-running commands await it. */
  readonly stopSignal?: AbortSignal
}

/** A sub-command: argv after the sub-command's name in, exit code out. Only src/cli.ts exits. */
export type Command = (args: string[], io: CliIO) => Promise<number>
