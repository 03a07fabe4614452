// An in-memory SecretStore with the apiserver's guarded-write semantics, for model tests of
// ensure-secrets. Each replica gets its own view whose calls pass through a `gate`, so a test can
// decide the order in which concurrent calls land (fast-check's scheduler) or make a replica crash.
import type { SecretWrite, StoredSecret } from '../../src/bootstrap/secret-model.ts'
import { SecretStoreError, type SecretStore } from '../../src/bootstrap/secret-store.ts'

export class MemorySecrets {
  readonly secrets = new Map<string, StoredSecret>()
  private revision = 1
  /** Every successful write, in order: which replica wrote which Secret. */
  readonly writes: Array<{ readonly replica: string; readonly name: string }> = []

  put(secret: SecretWrite): StoredSecret {
    const stored = { ...secret, resourceVersion: String(++this.revision) }
    this.secrets.set(secret.name, stored)
    return stored
  }

  /** A replica's view. `gate` runs before each call takes effect; it may never resolve (a crash). */
  view(replica: string, gate: (what: string) => Promise<void>): SecretStore {
    return {
      get: async (name) => {
        await gate(`${replica} get ${name}`)
        return this.secrets.get(name)
      },
      create: async (secret) => {
        await gate(`${replica} create ${secret.name}`)
        if (this.secrets.has(secret.name)) throw new SecretStoreError('already-exists', `create ${secret.name}: 409`, { status: 409 })
        this.writes.push({ replica, name: secret.name })
        return this.put(secret)
      },
      replace: async (secret, resourceVersion) => {
        await gate(`${replica} replace ${secret.name}`)
        const current = this.secrets.get(secret.name)
        if (current === undefined) throw new SecretStoreError('not-found', `replace ${secret.name}: 404`, { status: 404 })
        if (current.resourceVersion !== resourceVersion) throw new SecretStoreError('conflict', `replace ${secret.name}: 409`, { status: 409 })
        this.writes.push({ replica, name: secret.name })
        return this.put(secret)
      },
    }
  }
}
