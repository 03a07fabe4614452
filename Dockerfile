# syntax=docker/dockerfile:1
# contour-tls-injector: one image for the `webhook` and the `bootstrap-tls` init container.
#
# Base images are build arguments. The defaults are the public images, for `docker build .`:
#   BUILD_IMAGE    Node.js + npm + a shell, used only to build:  node:24.21.0-bookworm-slim
#   RUNTIME_IMAGE  glibc, libstdc++, CA certificates, no shell:   gcr.io/distroless/cc-debian12:nonroot
# Release builds should pin both by digest (NAME@sha256:...); distroless publishes no versioned
# tags, so its tag above is not a pin. scripts/build-image.sh, which has no registry, assembles
# local stand-ins for both (scripts/base-images/) and passes them pinned by digest.
#
# The final image holds only Node.js (copied from the build stage, so BUILD_IMAGE alone decides
# the Node version), the esbuild bundle (dist/, all dependencies inside it; no node_modules) and
# a package.json; it runs as 65534:65534 (nobody) and has no shell.
ARG BUILD_IMAGE=node:24.21.0-bookworm-slim
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

FROM ${BUILD_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: the build needs no install script (esbuild's binary comes from its
# optional platform package) and the `node` devDependency would download a second Node.js.
# Behind a TLS-intercepting proxy, pass its CA bundle as the optional build secret `build-ca`
# (`--secret id=build-ca,src=FILE`): it is mounted for this step only and lands in no layer.
RUN --mount=type=cache,target=/root/.npm \
    --mount=type=secret,id=build-ca,required=false \
    if [ -s /run/secrets/build-ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/build-ca; fi \
 && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
COPY tsconfig.json ./
COPY scripts/build.mjs scripts/
COPY src/ src/
# The bundle must run with no node_modules at all: prove it from a directory without one. Source
# maps stay out of the image (nothing there runs with --enable-source-maps), and no file under
# /app is executable (node runs cli.js; its #!/usr/bin/env line has nothing to find there).
RUN node scripts/build.mjs \
 && mkdir -p /out/app \
 && cp -r dist /out/app/dist \
 && find /out/app/dist -name '*.map' -delete \
 && find /out/app -type f -exec chmod 0644 {} + \
 && node -e 'const p = require("./package.json"); process.stdout.write(JSON.stringify({ name: p.name, version: p.version, description: p.description, license: p.license, type: p.type, bin: p.bin }, null, 2) + "\n")' > /out/app/package.json \
 && cd /out && node app/dist/cli.js version && node app/dist/cli.js webhook --help > /dev/null

FROM ${RUNTIME_IMAGE}
ARG RUNTIME_IMAGE
ARG VERSION=0.0.0-dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="contour-tls-injector" \
      org.opencontainers.image.description="Mutual TLS between Contour and Envoy: mutating admission webhook and bootstrap-tls init container" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="https://github.com/contour-tls-injector/contour-tls-injector" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${RUNTIME_IMAGE}"
COPY --from=build /usr/local/bin/node /usr/local/bin/node
COPY --from=build /out/app/ /app/
USER 65534:65534
# A 2 MiB semi-space keeps the webhook's peak RSS near its working set (V8 sizes the young
# generation from the host's memory otherwise); npm start and npm run bench use the same flag.
ENTRYPOINT ["/usr/local/bin/node", "--max-semi-space-size=2", "/app/dist/cli.js"]
CMD ["--help"]
