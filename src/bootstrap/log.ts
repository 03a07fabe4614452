// Plain log lines on stderr, one per event, prefixed `bootstrap-tls:`. As a last line of defence
// against a bug elsewhere, anything that looks like PEM or a long base64 run (a Secret's data as
// the API sends it) is cut out of a line; nothing legitimate in a log line is that long.
export type Log = (line: string) => void

const PEM_BLOCK = /-----BEGIN [A-Z0-9 ]+-----[\s\S]*?(-----END [A-Z0-9 ]+-----|$)/g
const LONG_BASE64 = /[A-Za-z0-9+/]{100,}={0,2}/g

export function createLog(stderr: { write(chunk: string): unknown }): Log {
  return (line) => {
    const safe = line.replace(PEM_BLOCK, '[PEM redacted]').replace(LONG_BASE64, '[base64 redacted]').replace(/\s*\n\s*/g, ' ')
    stderr.write(`bootstrap-tls: ${safe}\n`)
  }
}
