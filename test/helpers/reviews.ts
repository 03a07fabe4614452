// Review bodies for server tests, built from the same fixture `npm start` tells users to send.
import { readFileSync } from 'node:fs'

const path = new URL('../fixtures/reviews/envoy-daemonset-pod.json', import.meta.url)
export const envoyReviewText = readFileSync(path, 'utf8')

export interface ReviewLike {
  apiVersion: string
  kind: string
  request: Record<string, unknown> & { uid: string; object: Record<string, unknown> }
}

export function envoyReview(overrides: Record<string, unknown> = {}): ReviewLike {
  const review = JSON.parse(envoyReviewText) as ReviewLike
  Object.assign(review.request, overrides)
  return review
}
