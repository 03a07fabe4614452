#!/usr/bin/env bash
# Assembles the local stand-in for the Dockerfile's RUNTIME_IMAGE (gcr.io/distroless/cc-debian12):
# no shell and no package manager, only what a dynamically linked Node.js needs. Everything
# comes from the build base, so both bases are the same Debian release at the same patch level:
#   - the shared libraries `ldd /usr/local/bin/node` lists (glibc, libstdc++, libgcc_s) and the
#     symlinks leading to them (/lib64/ld-linux-x86-64.so.2 is the path the kernel loads);
#   - /etc/ssl/certs/ca-certificates.crt, /etc/os-release;
#   - /var/lib/dpkg/status.d/<package> and /usr/share/doc/<package>/copyright for each package
#     a file came from, as distroless does, so image scanners see the Debian versions;
#   - passwd, group and nsswitch.conf from files/etc (root and nobody 65534), /tmp (1777).
# Node itself is not in it: the Dockerfile copies it from the build stage.
#
# Usage: scripts/base-images/runtime-base.sh BUILD_BASE_IMAGE IMAGE_NAME
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

from="${1:?usage: runtime-base.sh BUILD_BASE_IMAGE IMAGE_NAME}"
name="${2:?usage: runtime-base.sh BUILD_BASE_IMAGE IMAGE_NAME}"
src="" ctr=""
cleanup() { for c in "$src" "$ctr"; do [[ -z "$c" ]] || bh rm "$c" >/dev/null 2>&1 || true; done; }
trap cleanup EXIT

src=$(bh from --name "cti-runtime-src-$$" "$from")
srcroot=$(bh mount "$src")
ctr=$(bh from --name "cti-runtime-base-$$" scratch)
root=$(bh mount "$ctr")
in_src() { chroot "$srcroot" "$@"; }

# Copies path $1 of the build base into the runtime root, recreating each symlink hop on the
# way to the real file. Symlinks are never followed on the host side: their targets may be
# absolute paths meant for inside the image.
copied=()
copy_path() {
  local path="$1" dir file target first
  first="/$(cut -d/ -f2 <<<"$path")"
  if [[ -L "$srcroot$first" && ! -L "$root$first" ]]; then cp -P "$srcroot$first" "$root$first"; fi
  for _ in 1 2 3 4 5 6 7 8; do
    dir=$(in_src realpath "$(dirname "$path")")
    file="$dir/$(basename "$path")"
    mkdir -p "$root$dir"
    if [[ -L "$srcroot$file" ]]; then
      [[ -L "$root$file" ]] || cp -P "$srcroot$file" "$root$file"
      target=$(readlink "$srcroot$file")
      [[ "$target" == /* ]] && path="$target" || path="$dir/$target"
    else
      cp -p "$srcroot$file" "$root$file"
      copied+=("$file")
      return
    fi
  done
  die "runtime base: too many symlinks resolving $1"
}

log "runtime base: shared libraries of /usr/local/bin/node, CA bundle, os-release from $from"
mapfile -t libs < <(bh run "$src" -- ldd /usr/local/bin/node | grep -oE '/[^ ]+' )
(( ${#libs[@]} >= 3 )) || die "runtime base: ldd listed no libraries"
for lib in "${libs[@]}"; do copy_path "$lib"; done
copy_path /etc/ssl/certs/ca-certificates.crt
copy_path /etc/os-release
install -m 0644 "$CTI_REPO"/scripts/base-images/files/etc/{passwd,group,nsswitch.conf} "$root/etc/"
install -d -m 1777 "$root/tmp"

# Which Debian packages the libraries came from (dpkg knows them by their unmerged /lib path).
packages=(ca-certificates base-files)
for lib in "${libs[@]}"; do
  pkg=$(in_src dpkg -S "$lib" 2>/dev/null || in_src dpkg -S "$(in_src realpath "$lib")" 2>/dev/null || true)
  [[ -n "$pkg" ]] || die "runtime base: no Debian package owns $lib"
  packages+=("${pkg%%:*}")
done
mapfile -t packages < <(printf '%s\n' "${packages[@]}" | sort -u)
mkdir -p "$root/var/lib/dpkg/status.d"
for pkg in "${packages[@]}"; do
  in_src dpkg-query -s "$pkg" >"$root/var/lib/dpkg/status.d/$pkg"
  doc=$(in_src realpath -m "/usr/share/doc/$pkg/copyright")
  if [[ -f "$srcroot$doc" ]]; then install -D -m 0644 "$srcroot$doc" "$root/usr/share/doc/$pkg/copyright"; fi
done
log "runtime base: files from Debian packages ${packages[*]}"

bh config \
  --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
  --user 65534:65534 --workingdir / \
  --label org.opencontainers.image.title=cti-base-runtime \
  --label org.opencontainers.image.description="Local stand-in for gcr.io/distroless/cc-debian12: glibc, libstdc++, libgcc_s, CA certificates, passwd/group; no shell" \
  "$ctr"
bh unmount "$ctr" >/dev/null
bh commit --quiet --format oci --rm "$ctr" "$name" >/dev/null
ctr=""

# Node from the build base, bind-mounted read-only into a throwaway container of the committed
# image (a run leaves mount points behind), must start, resolve user 65534 and see the CA bundle.
check='const os = require("node:os"), fs = require("node:fs");
  if (os.userInfo().username !== "nobody") throw new Error("uid 65534 is not nobody");
  fs.accessSync("/etc/ssl/certs/ca-certificates.crt"); fs.accessSync("/tmp", fs.constants.W_OK)'
ctr=$(bh from --name "cti-runtime-check-$$" "$name")
if ! bh run --volume "$srcroot/usr/local/bin/node:/usr/local/bin/node:ro" "$ctr" -- /usr/local/bin/node -e "$check"; then
  bh rmi "$name" >/dev/null 2>&1 || true
  die "runtime base: node from the build base does not run in it"
fi
log "runtime base: committed $name ($(image_size "$name"), ${#copied[@]} files from the build base)"
