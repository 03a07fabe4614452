// What a container runs, read from its argv (command ++ args) as the design's "Which pods
// change" section defines it. Only the argv decides: images and names are not trusted, because
// a renamed container still needs TLS and a sidecar built from the Contour image does not.

export const ArgvKinds = {
  contourServe: 'contour-serve',
  contourBootstrap: 'contour-bootstrap',
  envoy: 'envoy',
  shellWrapped: 'shell-wrapped',
  other: 'other',
} as const
export type ArgvKind = (typeof ArgvKinds)[keyof typeof ArgvKinds]

const SHELLS: ReadonlySet<string> = new Set(['sh', 'bash', 'ash', 'dash', 'zsh', 'ksh'])

// Launchers that exec their arguments: `tini -- contour serve` hides the real executable the
// same way a shell does, and rewriting its argv would be guesswork too.
const LAUNCHERS: ReadonlySet<string> = new Set(['env', 'exec', 'nohup', 'command', 'tini', 'dumb-init', 'time'])

// Shell syntax that starts a new simple command inside a script, and reserved words that may
// stand before one (`if envoy --mode validate ...; then`).
const COMMAND_SEPARATORS = /[;&|\n()`{}]+|\$\(/
const SHELL_KEYWORDS: ReadonlySet<string> = new Set(['if', 'then', 'else', 'elif', 'do', 'while', 'until', '!'])

const ENV_ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*=/

/** The last path segment: `/bin/contour` and `contour` are the same executable. */
export function basenameOf(path: string): string {
  const slash = path.lastIndexOf('/')
  return slash === -1 ? path : path.slice(slash + 1)
}

/**
 * kingpin puts the subcommand first in every real manifest, so the first token after the
 * executable that is not a flag is the subcommand, even when a flag's separate value follows.
 */
export function findSubcommand(argv: readonly string[]): string | undefined {
  return argv.slice(1).find((token) => !token.startsWith('-'))
}

export function classifyArgv(argv: readonly string[]): ArgvKind {
  const executable = argv[0]
  if (executable === undefined) return ArgvKinds.other
  const name = basenameOf(executable)
  if (name === 'contour') {
    const subcommand = findSubcommand(argv)
    if (subcommand === 'serve') return ArgvKinds.contourServe
    if (subcommand === 'bootstrap') return ArgvKinds.contourBootstrap
    return ArgvKinds.other
  }
  if (name === 'envoy') return ArgvKinds.envoy
  if (isShellWrapped(name, argv.slice(1))) return ArgvKinds.shellWrapped
  return ArgvKinds.other
}

function isShellWrapped(executableName: string, rest: readonly string[]): boolean {
  if (SHELLS.has(executableName)) {
    // The operands read as one script, so a quoted nested `sh -c '...'` is seen through too.
    const operands = rest.filter((token) => !token.startsWith('-'))
    return runsInlineScript(rest) && mentionsContourOrEnvoy(operands.join(' '))
  }
  if (LAUNCHERS.has(executableName)) return classifyArgv(dropCommandPrefix(rest)) !== ArgvKinds.other
  return false
}

/** `-c`, or a bundle that contains it (`-ec`, `-xc`), before the script operand. */
function runsInlineScript(rest: readonly string[]): boolean {
  for (const token of rest) {
    if (!token.startsWith('-')) return false
    if (/^-[A-Za-z]*c[A-Za-z]*$/.test(token)) return true
  }
  return false
}

/**
 * Whether any simple command in a shell script runs `contour serve`, `contour bootstrap` or
 * `envoy`. A heuristic on purpose: it only has to notice such a command to warn, never to
 * rewrite it, and it ignores `envoy` as a mere argument (`tail /var/log/envoy`).
 */
export function mentionsContourOrEnvoy(script: string): boolean {
  for (const segment of script.split(COMMAND_SEPARATORS)) {
    const words = segment
      .split(/\s+/)
      .map((word) => word.replace(/^['"]+|['"]+$/g, ''))
      .filter((word) => word !== '')
    // Every recursion drops at least the executable from what it reads, so this terminates.
    if (classifyArgv(dropCommandPrefix(words)) !== ArgvKinds.other) return true
  }
  return false
}

/** Drops what comes before the real executable: `FOO=1`, `exec`, `do`, a launcher and its flags. */
function dropCommandPrefix(words: readonly string[]): readonly string[] {
  const start = words.findIndex(
    (word) => !(ENV_ASSIGNMENT.test(word) || SHELL_KEYWORDS.has(word) || LAUNCHERS.has(basenameOf(word)) || word.startsWith('-')),
  )
  return start === -1 ? [] : words.slice(start)
}
