// The node flags the product runs with, read from where they ship, so benchmarks and tests
// measure exactly that: the image's ENTRYPOINT (every command, the init container included) and
// the chart's `webhook.nodeFlags` (the webhook Deployment's command).
import { readFileSync } from 'node:fs'
import YAML from 'yaml'

const root = new URL('../../', import.meta.url)

function readEntrypointFlags(): string[] {
  const dockerfile = readFileSync(new URL('Dockerfile', root), 'utf8')
  const match = /^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(dockerfile)
  if (match?.[1] === undefined) throw new Error('Dockerfile: no ENTRYPOINT in exec form')
  const entrypoint = JSON.parse(match[1]) as string[]
  return entrypoint.slice(1, -1)
}

function readWebhookFlags(): string[] {
  const values = YAML.parse(readFileSync(new URL('charts/contour-tls-injector/values.yaml', root), 'utf8')) as { webhook?: { nodeFlags?: string[] } }
  return values.webhook?.nodeFlags ?? []
}

/** Flags between node and /app/dist/cli.js in the image's ENTRYPOINT. */
export const ENTRYPOINT_NODE_FLAGS: readonly string[] = readEntrypointFlags()
/** The chart's default webhook.nodeFlags. */
export const WEBHOOK_NODE_FLAGS: readonly string[] = readWebhookFlags()
