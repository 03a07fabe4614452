// `--wait-timeout` values: a bare number is seconds (`300`), or a number with ms, s, m or h.
import { InjectorError } from '../errors.ts'
import { BootstrapErrorCodes } from './exit-codes.ts'

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

export function parseDuration(flag: string, raw: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(raw)
  const amount = match?.[1]
  if (match === null || amount === undefined) {
    throw new InjectorError(BootstrapErrorCodes.ERR_CONFIG, `--${flag}: "${raw}" is not a duration (e.g. 300, 300s, 5m)`)
  }
  const ms = Math.round(Number(amount) * (UNIT_MS[match[2] ?? 's'] ?? 1000))
  if (ms <= 0) throw new InjectorError(BootstrapErrorCodes.ERR_CONFIG, `--${flag}: must be more than zero`)
  return ms
}

/** `0.3s`, `12s`, `4m05s`: for progress lines. */
export function formatDuration(ms: number): string {
  if (ms < 9950) return `${(Math.max(0, ms) / 1000).toFixed(1)}s`
  const s = Math.round(ms / 1000)
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
}
