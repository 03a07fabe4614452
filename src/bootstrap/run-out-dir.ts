// `--out-dir DIR`: issue one set offline and write it in the mount layout.
import { issueCertificateSet } from '../core/certs/issue-set.ts'
import { checkCertificateSet } from '../core/certs/check-set.ts'
import { InjectorError } from '../errors.ts'
import type { IssueSettings } from './config.ts'
import type { BootstrapContext } from './context.ts'
import { BootstrapErrorCodes } from './exit-codes.ts'
import { refuseExisting, writeOutDir } from './out-dir.ts'

/** Without --namespace or POD_NAMESPACE the SANs name Contour's default namespace. */
export const DEFAULT_OUT_DIR_NAMESPACE = 'projectcontour'

export async function runOutDir(
  config: { readonly outDir: string; readonly force: boolean; readonly namespace: string | undefined; readonly issue: IssueSettings },
  ctx: BootstrapContext,
): Promise<void> {
  const namespace = config.namespace ?? DEFAULT_OUT_DIR_NAMESPACE
  await refuseExisting(config.outDir, config.force) // before spending CPU on keys
  const issue = ctx.issue ?? issueCertificateSet
  const set = await issue({ namespace, ...config.issue, now: new Date(ctx.clock.now()) })
  const checked = checkCertificateSet(set, { now: new Date(ctx.clock.now()) })
  if (!checked.ok) throw new InjectorError(BootstrapErrorCodes.ERR_CONFIG, `the issued set does not pass its own check: ${checked.reason}: ${checked.detail}`)
  const files = await writeOutDir(config.outDir, set, config.force)
  for (const file of files) ctx.stdout.write(`${file.path}\n`)
  ctx.log(`wrote a new set to ${config.outDir} for namespace ${namespace}: fingerprint ${checked.fingerprint.slice(0, 16)}, not after ${checked.notAfter.toISOString()}`)
}
