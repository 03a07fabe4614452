// Replaced at build time by esbuild's `define`; the fallback serves tests run from source.
declare const __CTI_VERSION__: string | undefined
export const VERSION: string = typeof __CTI_VERSION__ === 'string' ? __CTI_VERSION__ : '0.1.0'
export const DEFAULT_IMAGE_REPOSITORY = 'ghcr.io/contour-tls-injector/contour-tls-injector'
export const DEFAULT_IMAGE = `${DEFAULT_IMAGE_REPOSITORY}:${VERSION}`
