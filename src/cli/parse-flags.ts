// A small wrapper over node:util parseArgs: both `--flag=value` and `--flag value`, unknown flags are
// errors with a stable code, and every flag can also come from an environment variable.
import { parseArgs } from 'node:util'
import { InjectorError } from '../errors.ts'

export interface FlagSpec {
  readonly type: 'string' | 'boolean'
  /** Environment variable that supplies the value when the flag is absent. */
  readonly env?: string
  readonly default?: string | boolean
  readonly help: string
}

export type FlagValues = Record<string, string | boolean | undefined>

export function parseFlags(
  args: string[],
  specs: Readonly<Record<string, FlagSpec>>,
  env: Readonly<Record<string, string | undefined>>,
): { values: FlagValues; positionals: string[] } {
  const options: Record<string, { type: 'string' | 'boolean' }> = {}
  for (const [name, spec] of Object.entries(specs)) options[name] = { type: spec.type }
  let parsed
  try {
    parsed = parseArgs({ args, options, strict: true, allowPositionals: true })
  } catch (err) {
    throw new InjectorError('ERR_USAGE', (err as Error).message)
  }
  const values: FlagValues = {}
  for (const [name, spec] of Object.entries(specs)) {
    const given = (parsed.values as FlagValues)[name]
    const fromEnv = spec.env === undefined ? undefined : env[spec.env]
    if (given !== undefined) values[name] = given
    else if (fromEnv !== undefined && fromEnv !== '') values[name] = spec.type === 'boolean' ? parseBool(name, spec.env ?? '', fromEnv) : fromEnv
    else values[name] = spec.default
  }
  return { values, positionals: parsed.positionals }
}

function parseBool(flag: string, envName: string, raw: string): boolean {
  if (/^(1|true|yes)$/i.test(raw)) return true
  if (/^(0|false|no)$/i.test(raw)) return false
  throw new InjectorError('ERR_CONFIG', `--${flag}: ${envName}="${raw}" is not a boolean (true/false)`)
}

export function formatHelp(title: string, specs: Readonly<Record<string, FlagSpec>>): string {
  const lines = [title, '', 'Flags:']
  for (const [name, spec] of Object.entries(specs)) {
    const flag = spec.type === 'string' ? `--${name}=VALUE` : `--${name}`
    const extras = [spec.env ? `env ${spec.env}` : '', spec.default !== undefined && spec.default !== false ? `default ${String(spec.default)}` : '']
      .filter(Boolean).join('; ')
    lines.push(`  ${flag.padEnd(30)} ${spec.help}${extras ? ` (${extras})` : ''}`)
  }
  return lines.join('\n') + '\n'
}
