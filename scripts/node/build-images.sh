#!/usr/bin/env bash
# The images a real node runs, assembled locally with buildah (no registry can be reached) and
# saved as docker-archive tarballs that `ctr images import` loads into the node's containerd:
#   localhost/cti-pause:3.10        the pod sandbox (scripts/node/pause, Go, static)
#   localhost/cti-busybox:<deb>     Debian's busybox-static, for the suite's own small pods
#   localhost/cti-contour:<ver>     the Go-built .bin/contour on an empty base, at /bin/contour
#                                   as in the upstream image
#   localhost/cti-envoy-standin:<v> NOT Envoy: a stand-in (scripts/node/envoy-standin, Go, static)
#                                   installed as `envoy` on PATH, for the upstream DaemonSet's
#                                   `command: [envoy]`; it logs that it is a stand-in
#   the product image               scripts/build-image.sh's (reference in .local-cluster/image-ref),
#                                   exported when that file exists
# Each archive's name carries a content key, so a second run with nothing changed only checks.
# Writes .local-cluster/node-images: one "<reference> <archive>" line per image.
#
# Usage: bash scripts/node/build-images.sh   (root; after build-binaries.sh and build-image.sh)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../base-images/lib.sh"
cd "$CTI_REPO"
[[ $(id -u) == 0 ]] || die "run as root (buildah with chroot isolation needs it)"
CACHE="${CTI_BIN_CACHE:-$HOME/.cache/contour-tls-injector}"
OUT="$CACHE/node-images"
mkdir -p "$OUT" .local-cluster
exec 9>/run/lock/cti-build-image.lock
flock -w 900 9 || die "another image build still holds /run/lock/cti-build-image.lock"

missing=()
command -v buildah >/dev/null || missing+=(buildah)
[[ -x /bin/busybox ]] || missing+=(busybox-static)
if ((${#missing[@]})); then
  log "node images: installing ${missing[*]} (apt-get)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
[[ -x .bin/contour ]] || die "no .bin/contour: run scripts/build-binaries.sh first"

key() { cat "$@" | sha256sum | cut -c1-12; }
list=()

# assemble REF ARCHIVE SETUP-FUNCTION: a scratch image filled by the function (given the root).
assemble() {
  local ref=$1 archive=$2 fill=$3 ctr root
  if [[ -s "$archive" ]]; then log "node images: cached $ref"; list+=("$ref $archive"); return; fi
  log "node images: assembling $ref"
  ctr=$(bh from --name "cti-node-image-$$" scratch)
  root=$(bh mount "$ctr")
  "$fill" "$root" "$ctr"
  bh unmount "$ctr" >/dev/null
  bh commit --quiet --format oci --rm "$ctr" "$ref" >/dev/null
  rm -f "$archive.tmp"
  bh push --quiet "$ref" "docker-archive:$archive.tmp:$ref" >/dev/null
  mv -f "$archive.tmp" "$archive"
  list+=("$ref $archive")
  log "node images: $ref -> $archive ($(du -h "$archive" | cut -f1))"
}

passwd_files() {
  install -d "$1/etc" && install -d -m 1777 "$1/tmp"
  install -m 0644 scripts/base-images/files/etc/{passwd,group,nsswitch.conf} "$1/etc/"
}

fill_pause() {
  install -d "$1/bin"
  (cd scripts/node/pause && CGO_ENABLED=0 GOWORK=off GOTOOLCHAIN=local go build -trimpath -ldflags '-s -w' -o "$1/bin/pause" .)
  bh config --entrypoint '["/bin/pause"]' --user 65535:65535 --label org.opencontainers.image.title=cti-pause "$2"
}
pause_key=$(key scripts/node/pause/main.go scripts/node/pause/go.mod <(go version))
assemble localhost/cti-pause:3.10 "$OUT/pause-$pause_key.tar" fill_pause

fill_busybox() {
  passwd_files "$1"
  install -d "$1/bin"
  install -m 0755 /bin/busybox "$1/bin/busybox"
  local applet
  for applet in sh ls cat echo sleep wget nslookup nc httpd hostname id env grep sed head true false mkdir ps; do
    ln -s busybox "$1/bin/$applet"
  done
  bh config --env PATH=/bin --cmd '["/bin/sh"]' --label org.opencontainers.image.title=cti-busybox "$2"
}
busybox_version=$(dpkg-query -W -f '${Version}' busybox-static | sed -E 's/^[0-9]+://; s/[^A-Za-z0-9._-]/-/g')
assemble "localhost/cti-busybox:$busybox_version" "$OUT/busybox-$(key /bin/busybox scripts/base-images/files/etc/passwd).tar" fill_busybox

contour_version=$(readlink -f .bin/contour | sed -E 's#.*/contour-(v[^/]+)/contour$#\1#')
fill_contour() {
  passwd_files "$1"
  install -d "$1/bin"
  install -m 0755 "$(readlink -f .bin/contour)" "$1/bin/contour"
  bh config --env PATH=/bin --entrypoint '["/bin/contour"]' --user 65534:65534 --label org.opencontainers.image.title=cti-contour "$2"
}
assemble "localhost/cti-contour:$contour_version" "$OUT/contour-$(key .bin/contour).tar" fill_contour

# The Envoy stand-in: `envoy` on PATH (/usr/local/bin, as in Envoy's image) is this binary.
standin_dir=scripts/node/envoy-standin
standin_version=$(sed -nE 's/^var version = "(.*)"$/\1/p' "$standin_dir/main.go")
fill_standin() {
  passwd_files "$1"
  install -d "$1/usr/local/bin"
  (cd "$standin_dir" && CGO_ENABLED=0 GOWORK=off GOTOOLCHAIN=local go build -trimpath -ldflags '-s -w' -o "$1/usr/local/bin/envoy" .)
  bh config --env PATH=/usr/local/bin:/bin --entrypoint '["/usr/local/bin/envoy"]' --user 65534:65534 \
    --label org.opencontainers.image.title=cti-envoy-standin \
    --label org.opencontainers.image.description="A stand-in for Envoy in tests: NOT Envoy, proxies nothing" "$2"
}
standin_key=$(key "$standin_dir"/*.go "$standin_dir/go.mod" <(go version))
assemble "localhost/cti-envoy-standin:$standin_version" "$OUT/envoy-standin-$standin_key.tar" fill_standin

if [[ -s .local-cluster/image-ref ]]; then
  product=$(cat .local-cluster/image-ref)
  image_exists "$product" || die "$product (from .local-cluster/image-ref) is not in local storage: run scripts/build-image.sh"
  archive="$OUT/product-$(bh inspect --type image --format '{{.FromImageID}}' "$product" | cut -c1-12).tar"
  if [[ ! -s "$archive" ]]; then
    rm -f "$archive.tmp"
    bh push --quiet "$product" "docker-archive:$archive.tmp:$product" >/dev/null
    mv -f "$archive.tmp" "$archive"
  fi
  list+=("$product $archive")
  log "node images: $product -> $archive"
fi

# Older archives of the same kind (other content keys). Product archives may belong to other
# clones sharing the cache: the newest three stay.
for entry in "${list[@]}"; do
  archive=${entry#* }; kind=$(basename "$archive"); kind=${kind%%-*}
  [[ $kind == product ]] && continue
  for f in "$OUT/$kind"-*.tar; do [[ "$f" == "$archive" ]] || rm -f "$f"; done
done
ls -t "$OUT"/product-*.tar 2>/dev/null | tail -n +4 | xargs -r rm -f
printf '%s\n' "${list[@]}" >.local-cluster/node-images.new
mv -f .local-cluster/node-images.new .local-cluster/node-images
log "node images: done (.local-cluster/node-images lists ${#list[@]})"
