#!/usr/bin/env bash
# Builds the contour-tls-injector image with buildah, with no container registry, and checks it.
#   1. installs what is missing (buildah, debootstrap, binutils, openssl, curl) with apt-get;
#   2. assembles the two base images the Dockerfile takes as build arguments, unless an image
#      with the same content key is already in local storage (scripts/base-images/);
#   3. `buildah bud --layers` with both bases pinned by digest (npm ci runs inside the build
#      stage, against the npm registry);
#   4. runs the image: bootstrap-tls --out-dir (openssl verify), webhook --help, the webhook's
#      /healthz over real TLS from the host, no shell, USER 65534, entrypoint, labels;
#   5. writes the image reference to .local-cluster/image-ref (test/image/image.test.ts reads
#      it), removes images of earlier runs and prints the sizes.
# Idempotent; a second run with nothing changed takes seconds. Exits non-zero if a check fails.
#
# Usage: bash scripts/build-image.sh
# Env:   CTI_IMAGE_NAME   repository of the image (default localhost/contour-tls-injector)
#        CTI_REBUILD_BASES=1   assemble the base images again even if present
#        CTI_STORAGE_DRIVER    buildah storage driver (default: buildah's choice, overlay where
#                              the kernel allows it, else vfs); the image test honours it too
#        NODE_EXTRA_CA_CERTS   CA bundle for npm in the build stage (build secret build-ca);
#                              default /etc/ssl/certs/ca-certificates.crt, the host's trust
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/base-images/lib.sh"
cd "$CTI_REPO"

[[ $(id -u) == 0 ]] || die "run as root (buildah with chroot isolation and debootstrap need it)"
mkdir -p .local-cluster
# Image storage is per machine, not per clone, so the lock is too.
exec 9>/run/lock/cti-build-image.lock
flock -w 900 9 || die "another scripts/build-image.sh still holds /run/lock/cti-build-image.lock"

# --- 1. tools ----------------------------------------------------------------------------------
missing=()
for pair in buildah:buildah debootstrap:debootstrap strip:binutils openssl:openssl curl:curl; do
  command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
[[ -f /usr/share/keyrings/debian-archive-keyring.gpg ]] || missing+=(debian-archive-keyring)
if ((${#missing[@]})); then
  log "installing ${missing[*]} (apt-get)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
[[ -x node_modules/node/bin/node ]] || die "node_modules/node/bin/node is missing: run npm ci first"

# Working containers that an interrupted run of this script left behind.
for stale in $(bh containers --format '{{.ContainerName}}' | grep -E '^cti-(build-base|runtime-(src|base))-|^cti-image-check-' || true); do
  bh rm "$stale" >/dev/null 2>&1 || true
done

version=$(node_modules/.bin/node -p 'require("./package.json").version')
node_version=$(node_version)
image="${CTI_IMAGE_NAME:-localhost/contour-tls-injector}:$version"
build_stage="localhost/cti-build-stage:latest"
log "building $image (Node.js $node_version, buildah $(buildah --version | cut -d' ' -f3), storage $(bh info --format '{{.store.GraphDriverName}}'))"

# --- 2. base images ----------------------------------------------------------------------------
build_key=$(base_key build "$(sha256sum "$(node_binary)" | cut -c1-64)" "$(debian_mirror)")
build_base="localhost/cti-base-build:node$node_version-$build_key"
runtime_base="localhost/cti-base-runtime:$CTI_DEBIAN_SUITE-$(base_key runtime "$build_key")"
if [[ "${CTI_REBUILD_BASES:-}" == 1 ]]; then bh rmi "$runtime_base" "$build_base" >/dev/null 2>&1 || true; fi
if image_exists "$build_base"; then log "build base: cached $build_base"; else bash scripts/base-images/build-base.sh "$build_base"; fi
if image_exists "$runtime_base"; then log "runtime base: cached $runtime_base"; else bash scripts/base-images/runtime-base.sh "$build_base" "$runtime_base"; fi
build_pin="localhost/cti-base-build@$(image_digest "$build_base")"
runtime_pin="localhost/cti-base-runtime@$(image_digest "$runtime_base")"

# --- 3. the image --------------------------------------------------------------------------------
log "buildah bud: BUILD_IMAGE=$build_pin RUNTIME_IMAGE=$runtime_pin"
bud=(--layers --pull=never --file Dockerfile
  --build-arg "BUILD_IMAGE=$build_pin" --build-arg "RUNTIME_IMAGE=$runtime_pin"
  --build-arg "VERSION=$version" --build-arg "REVISION=$(git rev-parse HEAD 2>/dev/null || echo unknown)")
# npm ci in the build stage trusts what the host trusts (a TLS-intercepting proxy's CA, say):
# the bundle is a build secret, mounted for that one step and kept out of every layer.
build_ca="${NODE_EXTRA_CA_CERTS:-/etc/ssl/certs/ca-certificates.crt}"
if [[ -s "$build_ca" ]]; then bud+=(--secret "id=build-ca,src=$build_ca"); fi
# The build stage is tagged too (first bud), so pruning dangling images below keeps its cached
# layers: an unchanged package-lock.json then skips npm ci. The second bud reuses them.
quiet() { grep -vE '^(--> |Getting image|Copying |Writing manifest|Storing signatures)' >&2 || true; }
bh bud "${bud[@]}" --target build --tag "$build_stage" . 2>&1 | quiet
bh bud "${bud[@]}" --tag "$image" . 2>&1 | quiet
image_exists "$image" || die "buildah bud did not produce $image"

# --- 4. checks -----------------------------------------------------------------------------------
# One throwaway container of the image; every command runs as the image's USER with its
# ENTRYPOINT argv (buildah run does not apply ENTRYPOINT itself, so the check pins it first).
check_dir=$(mktemp -d) check_ctr="" webhook_pid=""
cleanup() {
  [[ -z "$webhook_pid" ]] || kill "$webhook_pid" 2>/dev/null || true
  [[ -z "$check_ctr" ]] || bh rm "$check_ctr" >/dev/null 2>&1 || true
  rm -rf "$check_dir"
}
trap cleanup EXIT
entrypoint=(/usr/local/bin/node --max-semi-space-size=2 /app/dist/cli.js)
check_ctr=$(bh from --name "cti-image-check-$$" "$image")
cfg() { bh inspect --format "$1" "$check_ctr"; }

log "check: configuration (USER, ENTRYPOINT, OCI labels)"
[[ $(cfg '{{.OCIv1.Config.User}}') == 65534:65534 ]] || die "USER is '$(cfg '{{.OCIv1.Config.User}}')', not 65534:65534"
[[ $(cfg '{{.OCIv1.Config.Entrypoint}}') == "[${entrypoint[*]}]" ]] || die "ENTRYPOINT is $(cfg '{{.OCIv1.Config.Entrypoint}}')"
for label in title description source licenses; do
  [[ -n $(cfg "{{index .OCIv1.Config.Labels \"org.opencontainers.image.$label\"}}") ]] || die "label org.opencontainers.image.$label is missing"
done
[[ $(cfg '{{index .OCIv1.Config.Labels "org.opencontainers.image.version"}}') == "$version" ]] || die "version label is not $version"

log "check: no shell, no node_modules, node is the only executable"
root=$(bh mount "$check_ctr")
for sh in sh bash dash ash busybox; do
  for dir in bin usr/bin sbin usr/sbin usr/local/bin; do
    [[ ! -e "$root/$dir/$sh" && ! -L "$root/$dir/$sh" ]] || die "the image has /$dir/$sh"
  done
done
[[ -z $(find "$root" -name node_modules -print -quit) ]] || die "the image has a node_modules directory"
executables=$(cd "$root" && find . -type f -perm /111 ! -name '*.so' ! -name '*.so.[0-9]*' | sed 's#^\.##')
[[ "$executables" == /usr/local/bin/node ]] || die "executables besides node: $(tr '\n' ' ' <<<"$executables")"
bh unmount "$check_ctr" >/dev/null

log "check: version and webhook --help"
got=$(bh run "$check_ctr" -- "${entrypoint[@]}" version)
[[ "$got" == "contour-tls-injector $version" ]] || die "version printed '$got'"
bh run "$check_ctr" -- "${entrypoint[@]}" webhook --help | grep -q '^Usage: contour-tls-injector webhook' ||
  die "webhook --help printed no usage"

log "check: bootstrap-tls --out-dir into a directory owned by 65534, then openssl verify"
out="$check_dir/out"
install -d -o 65534 -g 65534 "$out"
bh run --volume "$out:/out" "$check_ctr" -- "${entrypoint[@]}" bootstrap-tls --out-dir /out
for f in ca/ca.crt contour/tls.crt contour/tls.key contour/ca.crt envoy/tls.crt envoy/tls.key envoy/ca.crt; do
  [[ -s "$out/$f" ]] || die "bootstrap-tls wrote no $f"
done
openssl verify -CAfile "$out/ca/ca.crt" "$out/contour/tls.crt" "$out/envoy/tls.crt" >&2 || die "openssl verify failed"
for leaf in contour envoy; do
  cmp -s <(openssl x509 -noout -pubkey -in "$out/$leaf/tls.crt") <(openssl pkey -pubout -in "$out/$leaf/tls.key") ||
    die "$leaf/tls.key does not match $leaf/tls.crt"
  cmp -s "$out/ca/ca.crt" "$out/$leaf/ca.crt" || die "$leaf/ca.crt differs from ca/ca.crt"
done
[[ $(stat -c %u "$out/contour/tls.key") == 65534 ]] || die "files are not owned by 65534"

port=$(node_modules/.bin/node -e 'const s = require("node:net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close() })')
log "check: webhook --dev on 127.0.0.1:$port, GET /healthz and /readyz from the host over TLS"
install -d -o 65534 -g 65534 "$check_dir/dev"
buildah ${CTI_STORAGE_DRIVER:+--storage-driver "$CTI_STORAGE_DRIVER"} run --volume "$check_dir/dev:/dev-cert" "$check_ctr" -- "${entrypoint[@]}" webhook --dev --port "$port" \
  --dev-cert-dir /dev-cert --drain-seconds 0 >"$check_dir/webhook.log" 2>&1 &
webhook_pid=$!
for attempt in $(seq 1 60); do
  if [[ -s "$check_dir/dev/ca.crt" ]] &&
    curl -fsS --max-time 2 --cacert "$check_dir/dev/ca.crt" "https://127.0.0.1:$port/healthz" >/dev/null 2>&1; then break; fi
  kill -0 "$webhook_pid" 2>/dev/null || { cat "$check_dir/webhook.log" >&2; die "the webhook exited"; }
  (( attempt % 10 )) || log "check: waiting for the webhook ($((attempt / 2)) s)"
  (( attempt < 60 )) || { cat "$check_dir/webhook.log" >&2; die "no /healthz after 30 s"; }
  sleep 0.5
done
curl -fsS --cacert "$check_dir/dev/ca.crt" "https://127.0.0.1:$port/readyz" >/dev/null || die "/readyz failed"
# buildah run answers SIGTERM by killing its child, so the signal goes to node itself (the
# kubelet's SIGTERM reaches PID 1 the same way): it must drain and exit 0.
node_pid() {
  local child
  for child in $(ps -o pid= --ppid "$1"); do
    if [[ $(ps -o args= -p "$child") == "${entrypoint[0]} "* ]]; then echo "$child"; return 0; fi
    node_pid "$child" && return 0
  done
  return 1
}
kill -TERM "$(node_pid "$webhook_pid")" || die "found no node process under buildah run"
rc=0; wait "$webhook_pid" || rc=$?
((rc == 0)) || { cat "$check_dir/webhook.log" >&2; die "the webhook exited with $rc after SIGTERM"; }
webhook_pid=""
log "check: all passed"

# --- 5. reference, clean-up, sizes ---------------------------------------------------------------
printf '%s\n' "$image" >.local-cluster/image-ref
for repo in "${CTI_IMAGE_NAME:-localhost/contour-tls-injector}" localhost/cti-base-build localhost/cti-base-runtime; do
  for old in $(bh images --format '{{.Name}}:{{.Tag}}' --filter "reference=$repo"); do
    [[ "$old" == "$image" || "$old" == "$build_base" || "$old" == "$runtime_base" ]] || bh rmi "$old" >/dev/null 2>&1 || true
  done
done
bh rmi --prune >/dev/null 2>&1 || true

# What a registry would store (gzip layers): measured once per image ID.
image_id=$(bh inspect --type image --format '{{.FromImageID}}' "$image")
compressed=$(sed -n "s/^$image_id //p" .local-cluster/image-gzip-size 2>/dev/null || true)
if [[ -z "$compressed" ]]; then
  archive=$(mktemp -d)
  bh push --quiet "$image" "oci-archive:$archive/image.tar" >/dev/null
  compressed=$(du -k "$archive/image.tar" | cut -f1)
  rm -rf "$archive"
  printf '%s %s\n' "$image_id" "$compressed" >.local-cluster/image-gzip-size
fi
log "sizes: image $(image_size "$image") ($((compressed / 1024)) MB as gzip layers, what a registry stores);" \
  "runtime base $(image_size "$runtime_base"); build base $(image_size "$build_base")"
log "done: $image (written to .local-cluster/image-ref)"
