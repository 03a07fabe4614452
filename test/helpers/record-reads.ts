// Wraps a JSON value so every property read through it is recorded as a path: tests use it to
// prove which parts of a pod a function can see.
export function recordReads<T>(value: T, reads: string[][], path: readonly string[] = []): T {
  if (typeof value !== 'object' || value === null) return value
  return new Proxy(value, {
    get(target, key, receiver) {
      const member: unknown = Reflect.get(target, key, receiver)
      if (typeof key === 'symbol') return member
      reads.push([...path, key])
      return recordReads(member, reads, [...path, key])
    },
    has(target, key) {
      if (typeof key === 'string') reads.push([...path, key])
      return Reflect.has(target, key)
    },
    ownKeys(target) {
      reads.push([...path, '*'])
      return Reflect.ownKeys(target)
    },
    getOwnPropertyDescriptor(target, key) {
      if (typeof key === 'string') reads.push([...path, key])
      return Reflect.getOwnPropertyDescriptor(target, key)
    },
  })
}

/** Whether a read path stays inside what the admission memo compares (see src/server/admission-memo.ts). */
export function isEngineInput(path: readonly string[]): boolean {
  const [top, member, , field] = path
  if (top === 'kind') return true
  if (top === 'metadata') return member === undefined || member === 'annotations'
  if (top !== 'spec') return false
  if (member === undefined || member === 'volumes') return true
  if (member !== 'initContainers' && member !== 'containers') return false
  // The list itself, its length and its items; of an item, only the fields the memo compares.
  return field === undefined || CONTAINER_INPUTS.has(field)
}

const CONTAINER_INPUTS: ReadonlySet<string> = new Set(['name', 'command', 'args', 'env', 'volumeMounts'])
