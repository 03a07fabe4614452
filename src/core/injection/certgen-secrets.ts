// The Secrets `contour certgen` writes, recognised by name: `contourcert<S>`, `envoycert<S>` and
// (legacy layout, before Contour 1.5) `cacert<S>`, for any suffix S: none in the upstream
// manifests and both charts, `--secrets-name-suffix` for certgen run by hand, `-<gateway>` for
// the Gateway provisioner. The suffix names the instance, and our set for it carries it over.
import type { SecretNames } from './types.ts'

const PREFIXES = ['contourcert', 'envoycert', 'cacert'] as const

/** The suffix of a certgen Secret's name, or undefined when the name is not certgen's. */
export function certgenSuffix(secretName: string): string | undefined {
  for (const prefix of PREFIXES) if (secretName.startsWith(prefix)) return secretName.slice(prefix.length)
  return undefined
}

/** The one suffix every name shares, when every name is certgen's; else undefined. */
export function commonCertgenSuffix(secretNames: Iterable<string>): string | undefined {
  let common: string | undefined
  for (const name of secretNames) {
    const suffix = certgenSuffix(name)
    if (suffix === undefined || (common !== undefined && suffix !== common)) return undefined
    common = suffix
  }
  return common
}

/** The set's names for an instance: the configured names with its suffix. */
export function instanceSecretNames(names: SecretNames, suffix: string): SecretNames {
  if (suffix === '') return names
  return { contour: `${names.contour}${suffix}`, envoy: `${names.envoy}${suffix}`, ca: `${names.ca}${suffix}` }
}
