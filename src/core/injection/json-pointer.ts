// JSON Pointer (RFC 6901) paths for the patch. Annotation keys contain `/`, so every token is
// escaped; `~` must be escaped first or `~1` written for `/` would be read back as `~` + `1`.

export function escapePointerToken(token: string): string {
  // Most tokens (indices, field names) need no escaping: skip the two scans-and-copies.
  if (!token.includes('~') && !token.includes('/')) return token
  return token.replaceAll('~', '~0').replaceAll('/', '~1')
}

/** `/a/b~1c` from `['a', 'b/c']`; numbers are array indices, `-` appends. */
export function toPointer(tokens: readonly (string | number)[]): string {
  return tokens.map((token) => `/${escapePointerToken(String(token))}`).join('')
}
