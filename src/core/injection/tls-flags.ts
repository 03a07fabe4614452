// The TLS flags of `contour serve` and `contour bootstrap`: finding them (so a user's own TLS
// setup is never overridden) and adding ours (so Contour and Envoy read the injected files).

/** One TLS setting of kingpin: a flag and the environment variable that can stand in for it. */
interface TlsSetting {
  readonly flag: string
  /** `flag=`: the prefix of the flag's `=` form. */
  readonly prefix: string
  readonly env: string
  readonly file: TlsFile
}

/** Which of the three files a setting names. */
export type TlsFile = 'ca' | 'cert' | 'key'

function setting(flag: string, env: string, file: TlsFile): TlsSetting {
  return { flag, prefix: `${flag}=`, env, file }
}

export type TlsCommand = 'serve' | 'bootstrap'

export const TLS_SETTINGS: Readonly<Record<TlsCommand, readonly TlsSetting[]>> = {
  serve: [
    setting('--contour-cafile', 'CONTOUR_CAFILE', 'ca'),
    setting('--contour-cert-file', 'CONTOUR_CERT_FILE', 'cert'),
    setting('--contour-key-file', 'CONTOUR_KEY_FILE', 'key'),
  ],
  bootstrap: [
    setting('--envoy-cafile', 'ENVOY_CAFILE', 'ca'),
    setting('--envoy-cert-file', 'ENVOY_CERT_FILE', 'cert'),
    setting('--envoy-key-file', 'ENVOY_KEY_FILE', 'key'),
  ],
}

/** kingpin stops reading flags at `--`; everything after it is positional. */
const END_OF_FLAGS = '--'

export interface TlsFlagState {
  /** How each setting that is present was given: the flag name, or `env NAME`. */
  readonly present: readonly string[]
  /** Flags of the settings that are absent. */
  readonly missing: readonly string[]
}

/** Reads which of the three TLS settings a container gives, as a flag (either form) or env. */
export function findTlsFlags(command: TlsCommand, argv: readonly string[], envNames: ReadonlySet<string>): TlsFlagState {
  const end = flagsEnd(argv)
  const present: string[] = []
  const missing: string[] = []
  for (const setting of TLS_SETTINGS[command]) {
    if (hasFlag(argv, end, setting)) present.push(setting.flag)
    else if (envNames.has(setting.env)) present.push(`env ${setting.env}`)
    else missing.push(setting.flag)
  }
  return { present, missing }
}

/** kingpin parses the tokens after the executable and before `--` as flags: this is where they end. */
export function flagsEnd(argv: readonly string[]): number {
  const end = argv.indexOf(END_OF_FLAGS, 1)
  return end === -1 ? argv.length : end
}

function hasFlag(argv: readonly string[], end: number, setting: TlsSetting): boolean {
  for (let i = 1; i < end; i++) {
    const token = argv[i] as string
    if (token === setting.flag || token.startsWith(setting.prefix)) return true
  }
  return false
}

/** The `=` form of our three flags, pointing at the injected files. */
export function buildTlsFlags(command: TlsCommand, files: Readonly<Record<TlsFile, string>>): string[] {
  return TLS_SETTINGS[command].map((setting) => `${setting.flag}=${files[setting.file]}`)
}

export function isInsecureFlag(token: string): boolean {
  return token === '--insecure' || token.startsWith('--insecure=')
}

export interface RewrittenArgv {
  readonly command: readonly string[] | undefined
  readonly args: readonly string[]
  readonly commandChanged: boolean
  readonly argsChanged: boolean
}

/**
 * Adds flags to a container's argv and optionally drops `--insecure`, keeping the split
 * between `command` and `args`: flags go at the end of `args`, or just before a `--` when
 * there is one (after it they would be positional arguments).
 */
export function rewriteArgv(
  command: readonly string[] | undefined,
  args: readonly string[] | undefined,
  flags: readonly string[],
  dropInsecure: boolean,
): RewrittenArgv {
  // One pass over command ++ args by index: this runs on every admission, so no token copies.
  const commandLength = command?.length ?? 0
  const total = commandLength + (args?.length ?? 0)
  const tokenAt = (i: number): string => (i < commandLength ? (command as readonly string[])[i] : (args as readonly string[])[i - commandLength]) as string
  let endOfFlags = -1
  for (let i = 1; i < total; i++) {
    if (tokenAt(i) === END_OF_FLAGS) {
      endOfFlags = i
      break
    }
  }
  const newCommand: string[] = []
  const newArgs: string[] = []
  for (let i = 0; i < total; i++) {
    const target = i < commandLength ? newCommand : newArgs
    // Our flags go just before the `--`, on its side of the command/args split.
    if (i === endOfFlags) target.push(...flags)
    const token = tokenAt(i)
    const dropped = dropInsecure && i > 0 && (endOfFlags === -1 || i < endOfFlags) && isInsecureFlag(token)
    if (!dropped) target.push(token)
  }
  if (endOfFlags === -1) newArgs.push(...flags)
  return {
    command: command === undefined ? undefined : newCommand,
    args: newArgs,
    commandChanged: command !== undefined && !sameStrings(command, newCommand),
    argsChanged: !sameStrings(args ?? [], newArgs),
  }
}

export function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((value, index) => value === b[index])
}
