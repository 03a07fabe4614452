// The patch as JSON text, byte for byte what JSON.stringify(patch) gives, at a fraction of its
// cost: most of an injection patch is the init container, volumes and mounts derived once from
// the settings (derived-settings.ts), deep-frozen and shared by every patch. Their JSON is
// written once, when they are marked, and reused; only the pod-specific rest is serialized per
// admission.
import type { Operation } from './types.ts'

const encoded = new WeakMap<object, string>()

/** Remembers the JSON of a value that never changes (deep-frozen); patches reuse it by identity. */
export function markImmutable(value: object): void {
  if (!Object.isFrozen(value)) throw new TypeError('markImmutable: the value must be deep-frozen')
  encoded.set(value, JSON.stringify(value))
}

export function encodePatch(patch: readonly Operation[]): string {
  let out = '['
  for (let i = 0; i < patch.length; i++) {
    if (i > 0) out += ','
    out += encodeOperation(patch[i] as Operation)
  }
  return `${out}]`
}

function encodeOperation(op: Operation): string {
  // The engine's operations are {op, path, value} in that order; anything else is left to
  // JSON.stringify, so the output always matches it.
  if ((op.op === 'add' || op.op === 'replace') && isEngineShaped(op)) {
    return `{"op":"${op.op}","path":${JSON.stringify(op.path)},"value":${encodeValue(op.value)}}`
  }
  return JSON.stringify(op)
}

function isEngineShaped(op: Operation): op is Operation & { value: unknown } {
  let index = 0
  for (const key in op) {
    if (key !== (index === 0 ? 'op' : index === 1 ? 'path' : index === 2 ? 'value' : '')) return false
    index++
  }
  return index === 3 && (op as { value?: unknown }).value !== undefined
}

function encodeValue(value: unknown): string {
  if (typeof value !== 'object' || value === null) return JSON.stringify(value)
  const known = encoded.get(value)
  if (known !== undefined) return known
  if (Array.isArray(value)) {
    let out = '['
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ','
      const item: unknown = value[i]
      // JSON.stringify writes null for holes, undefined and functions in arrays.
      out += item === undefined || typeof item === 'function' || typeof item === 'symbol' ? 'null' : encodeValue(item)
    }
    return `${out}]`
  }
  return JSON.stringify(value)
}
