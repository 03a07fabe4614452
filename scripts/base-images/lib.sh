# Shared by scripts/build-image.sh and scripts/base-images/*.sh (sourced, not run).
# Every image operation goes through `bh`, so storage and isolation are set in one place:
#   - chroot isolation needs no OCI runtime and shares the host's network (the checks reach the
#     webhook from the host);
#   - storage is buildah's default choice (overlay where the kernel allows it, else vfs) unless
#     CTI_STORAGE_DRIVER names one. Measured here: vfs copies every layer whole, which made a
#     warm build 40 s and 3.4 GB against 1.4 s and 0.65 GB on overlay.
# test/image/image.test.ts uses the same two settings.

CTI_REPO="${CTI_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
CTI_STORAGE_DRIVER="${CTI_STORAGE_DRIVER:-}"
export BUILDAH_ISOLATION=chroot
: "${CTI_START_TS:=$(date +%s)}"
export CTI_START_TS

log() { printf '[%s +%4ss] %s\n' "$(date +%H:%M:%S)" "$(($(date +%s) - CTI_START_TS))" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
bh() { buildah ${CTI_STORAGE_DRIVER:+--storage-driver "$CTI_STORAGE_DRIVER"} "$@"; }

# The Node.js that the build base carries and that the final image runs: the `node` devDependency
# (the official binary, installed by `npm ci` with its integrity checked against package-lock).
node_version() { sed -nE 's/^ *"version": *"([^"]+)".*/\1/p' "$CTI_REPO/node_modules/node/package.json" | head -n 1; }
node_binary() { readlink -f "$CTI_REPO/node_modules/node/bin/node"; }

# npm for the build base: the newest npm 11 (the line Node 24 ships) when this was written.
CTI_NPM_VERSION="${CTI_NPM_VERSION:-11.21.2}"

# Debian release of both bases: the one distroless/cc-debian12 and node:*-bookworm-slim use.
CTI_DEBIAN_SUITE="${CTI_DEBIAN_SUITE:-bookworm}"

# The Debian mirror this machine's apt uses (deb822 or one-line sources), else deb.debian.org.
debian_mirror() {
  local uri
  uri=$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list /etc/apt/sources.list 2>/dev/null |
    grep -oE 'https?://[^ ]+/debian/?( |$)' | head -n 1 | tr -d ' ' || true)
  printf '%s\n' "${CTI_DEBIAN_MIRROR:-${uri:-http://deb.debian.org/debian}}" | sed 's#/$##'
}

# Content key of a base image: every input that changes what it holds. Assembling again with
# the same key is skipped, so Debian updates published since are picked up only when a key
# input changes, when CTI_BASE_EPOCH is raised, or on CTI_REBUILD_BASES=1.
CTI_BASE_EPOCH="${CTI_BASE_EPOCH:-1}"
base_key() {
  { printf '%s\n' "$CTI_BASE_EPOCH" "$CTI_DEBIAN_SUITE" "$CTI_NPM_VERSION" "$@"
    cat "$CTI_REPO"/scripts/base-images/*.sh "$CTI_REPO"/scripts/base-images/files/etc/*
  } | sha256sum | cut -c1-12
}

image_exists() { bh inspect --type image "$1" >/dev/null 2>&1; }

# The manifest digest of a local image, so the Dockerfile's FROM can pin it as name@sha256:...
image_digest() { bh inspect --type image --format '{{.FromImageDigest}}' "$1"; }

# Size as buildah reports it (uncompressed layers).
image_size() { bh images --format '{{.Size}}' --filter "reference=$1" | head -n 1; }
