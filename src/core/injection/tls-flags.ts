// The TLS flags of `contour serve` and `contour bootstrap`: finding them (so a user's own TLS
// setup is never overridden) and adding ours (so Contour and Envoy read the injected files).

/** One TLS setting of kingpin: a flag and the environment variable that can stand in for it. */
interface TlsSetting {
  readonly flag: string
  readonly env: string
  readonly file: 'ca' | 'cert' | 'key'
}

export type TlsCommand = 'serve' | 'bootstrap'

export const TLS_SETTINGS: Readonly<Record<TlsCommand, readonly TlsSetting[]>> = {
  serve: [
    { flag: '--contour-cafile', env: 'CONTOUR_CAFILE', file: 'ca' },
    { flag: '--contour-cert-file', env: 'CONTOUR_CERT_FILE', file: 'cert' },
    { flag: '--contour-key-file', env: 'CONTOUR_KEY_FILE', file: 'key' },
  ],
  bootstrap: [
    { flag: '--envoy-cafile', env: 'ENVOY_CAFILE', file: 'ca' },
    { flag: '--envoy-cert-file', env: 'ENVOY_CERT_FILE', file: 'cert' },
    { flag: '--envoy-key-file', env: 'ENVOY_KEY_FILE', file: 'key' },
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
  const flagTokens = readFlagTokens(argv)
  const present: string[] = []
  const missing: string[] = []
  for (const setting of TLS_SETTINGS[command]) {
    const asFlag = flagTokens.some((token) => token === setting.flag || token.startsWith(`${setting.flag}=`))
    if (asFlag) present.push(setting.flag)
    else if (envNames.has(setting.env)) present.push(`env ${setting.env}`)
    else missing.push(setting.flag)
  }
  return { present, missing }
}

/** The tokens kingpin may parse as flags: after the executable, before `--`. */
function readFlagTokens(argv: readonly string[]): readonly string[] {
  const rest = argv.slice(1)
  const end = rest.indexOf(END_OF_FLAGS)
  return end === -1 ? rest : rest.slice(0, end)
}

/** The `=` form of our three flags, pointing at the injected files. */
export function buildTlsFlags(command: TlsCommand, paths: { readonly ca: string; readonly leafDir: string }): string[] {
  const files = { ca: `${paths.ca}/ca.crt`, cert: `${paths.leafDir}/tls.crt`, key: `${paths.leafDir}/tls.key` }
  return TLS_SETTINGS[command].map((setting) => `${setting.flag}=${files[setting.file]}`)
}

export function isInsecureFlag(token: string): boolean {
  return token === '--insecure' || token.startsWith('--insecure=')
}

interface Token {
  readonly value: string
  readonly inCommand: boolean
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
  const tokens: Token[] = [
    ...(command ?? []).map((value) => ({ value, inCommand: true })),
    ...(args ?? []).map((value) => ({ value, inCommand: false })),
  ]
  const endOfFlags = tokens.findIndex((token, index) => index > 0 && token.value === END_OF_FLAGS)
  const kept = tokens.filter(
    (token, index) => !(dropInsecure && index > 0 && (endOfFlags === -1 || index < endOfFlags) && isInsecureFlag(token.value)),
  )
  const terminator = kept.findIndex((token, index) => index > 0 && token.value === END_OF_FLAGS)
  const inCommand = terminator !== -1 && (kept[terminator]?.inCommand ?? false)
  const added = flags.map((value) => ({ value, inCommand }))
  const result = terminator === -1 ? [...kept, ...added] : [...kept.slice(0, terminator), ...added, ...kept.slice(terminator)]
  const newCommand = result.filter((token) => token.inCommand).map((token) => token.value)
  const newArgs = result.filter((token) => !token.inCommand).map((token) => token.value)
  return {
    command: command === undefined ? undefined : newCommand,
    args: newArgs,
    commandChanged: command !== undefined && !sameStrings(command, newCommand),
    argsChanged: !sameStrings(args ?? [], newArgs),
  }
}

function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((value, index) => value === b[index])
}
