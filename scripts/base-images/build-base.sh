#!/usr/bin/env bash
# Assembles the local stand-in for the Dockerfile's BUILD_IMAGE (node:<version>-bookworm-slim):
# a Debian minbase rootfs from the mirror this machine's apt uses, with security updates, slimmed
# like debian:*-slim, plus Node.js at /usr/local/bin/node and npm under /usr/local/lib, laid out
# as the official node image lays them out.
#
# Usage: scripts/base-images/build-base.sh IMAGE_NAME   (e.g. localhost/cti-base-build:node24.21.0-abc)
# Needs: root, buildah, debootstrap, binutils (strip), npm on the host (to fetch the npm package).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

name="${1:?usage: build-base.sh IMAGE_NAME}"
node_bin=$(node_binary)
version=$(node_version)
[[ -x "$node_bin" && "$("$node_bin" --version)" == "v$version" ]] ||
  die "node_modules/node/bin/node is not Node $version: run npm ci first"
mirror=$(debian_mirror)
security_mirror="${CTI_DEBIAN_SECURITY_MIRROR:-${mirror%/debian}/debian-security}"

work=$(mktemp -d)
ctr=""
cleanup() { [[ -z "$ctr" ]] || bh rm "$ctr" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

ctr=$(bh from --name "cti-build-base-$$" scratch)
root=$(bh mount "$ctr")

log "build base: debootstrap --variant=minbase $CTI_DEBIAN_SUITE from $mirror (about 30 s)"
debootstrap --variant=minbase --include=ca-certificates --components=main \
  "$CTI_DEBIAN_SUITE" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
  { tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap failed (full log above)"; }

# Future apt installs in the build stage stay slim too (what debian:*-slim configures).
cat >"$root/etc/dpkg/dpkg.cfg.d/slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
EOF
cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror $CTI_DEBIAN_SUITE main
deb $mirror $CTI_DEBIAN_SUITE-updates main
deb $security_mirror $CTI_DEBIAN_SUITE-security main
EOF

log "build base: apt-get upgrade from $CTI_DEBIAN_SUITE-updates and -security"
bh run "$ctr" -- sh -ec 'export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get -y -qq upgrade >/dev/null
  apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/*.log /var/log/apt/*'
find "$root/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete
find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$root"/usr/share/{man,info,lintian}/* "$root"/usr/share/locale/*

log "build base: Node.js $version (official binary, symbols stripped) and npm $CTI_NPM_VERSION"
mkdir -p "$root/usr/local/bin" "$root/usr/local/lib/node_modules/npm"
# --strip-all drops the static symbol table and debug info (about 18 MB); the dynamic symbols
# that native addons link against stay.
strip --strip-all -o "$root/usr/local/bin/node" "$node_bin"
(cd "$work" && npm pack --silent "npm@$CTI_NPM_VERSION" >/dev/null)
tar -xzf "$work/npm-$CTI_NPM_VERSION.tgz" -C "$root/usr/local/lib/node_modules/npm" --strip-components=1 --no-same-owner
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"

got=$(bh run "$ctr" -- sh -c 'node --version && npm --version' | tr '\n' ' ')
[[ "$got" == "v$version $CTI_NPM_VERSION " ]] || die "build base: node/npm report '$got'"

bh config \
  --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --env NODE_VERSION="$version" \
  --workingdir / --cmd node \
  --label org.opencontainers.image.title=cti-base-build \
  --label org.opencontainers.image.description="Local stand-in for node:$version-$CTI_DEBIAN_SUITE-slim (Debian $CTI_DEBIAN_SUITE minbase, Node.js $version, npm $CTI_NPM_VERSION)" \
  --label org.opencontainers.image.version="$version" \
  "$ctr"
bh unmount "$ctr" >/dev/null
bh commit --quiet --format oci --rm "$ctr" "$name" >/dev/null
ctr=""
log "build base: committed $name ($(image_size "$name"))"
