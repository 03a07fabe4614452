// Reloads the serving certificate when its files change. The kubelet updates a mounted Secret by
// swapping a `..data` symlink in the directory, so we watch the directories and also poll (watches
// miss events on some filesystems). New handshakes get the new certificate; open connections stay.
import { watch, type FSWatcher } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { createSecureContext } from 'node:tls'

export interface LoadedPair {
  readonly cert: Buffer
  readonly key: Buffer
}

export interface TlsReloaderOptions {
  readonly certFile: string
  readonly keyFile: string
  readonly onReload: (pair: LoadedPair) => void
  readonly onError: (err: Error) => void
  readonly pollMs?: number
}

/** Reads and validates the pair: a half-written or mismatched pair throws and is never applied. */
export async function loadPair(certFile: string, keyFile: string): Promise<LoadedPair> {
  const [cert, key] = await Promise.all([readFile(certFile), readFile(keyFile)])
  createSecureContext({ cert, key }) // throws on unparsable or mismatched material
  return { cert, key }
}

export function watchPair(initial: LoadedPair, opts: TlsReloaderOptions): { close(): void } {
  let current = initial
  let checking = false
  let again = false
  const check = async (): Promise<void> => {
    if (checking) { again = true; return }
    checking = true
    try {
      do {
        again = false
        let next: LoadedPair
        try {
          next = await loadPair(opts.certFile, opts.keyFile)
        } catch (err) {
          // Mid-swap states are expected; report and keep serving the current pair.
          opts.onError(err as Error)
          continue
        }
        if (!next.cert.equals(current.cert) || !next.key.equals(current.key)) {
          current = next
          opts.onReload(next)
        }
      } while (again)
    } finally {
      checking = false
    }
  }
  const watchers: FSWatcher[] = []
  for (const dir of new Set([dirname(opts.certFile), dirname(opts.keyFile)])) {
    try {
      const w = watch(dir, () => void check())
      w.on('error', () => undefined)
      w.unref()
      watchers.push(w)
    } catch {
      // Polling below still catches changes.
    }
  }
  const timer = setInterval(() => void check(), opts.pollMs ?? 10_000)
  timer.unref()
  return {
    close() {
      clearInterval(timer)
      for (const w of watchers) w.close()
    },
  }
}
