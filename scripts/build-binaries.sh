#!/usr/bin/env bash
# Build the real Kubernetes / etcd / Contour / Helm binaries the tests run
# against, from Go modules fetched through the module proxy (no prebuilt
# downloads are possible on our machines).
#
# Layout (other scripts depend on it):
#   $CACHE/<name>-<version>/<name>     the binary; CACHE is $CTI_BIN_CACHE,
#                                      default ~/.cache/contour-tls-injector
#   $CACHE/contour-<version>/01-crds.yaml
#   <repo>/.bin/<name>                 symlink to the cached binary
#   <repo>/.bin/contour-crds.yaml      symlink to the cached CRDs
#
# Usage: scripts/build-binaries.sh [--only NAME[,NAME...]]
#   NAME is one of: kube-apiserver kube-controller-manager kubectl etcd contour helm
#                   kubelet kube-scheduler kube-proxy coredns (the real node's)
# Env:   CTI_BIN_CACHE, K8S_VERSION, ETCD_VERSION, CONTOUR_VERSION, HELM_VERSION,
#        COREDNS_VERSION
#
# Everything already in the cache is skipped, and the Go build and module
# caches are the defaults, so a second run costs seconds.
set -euo pipefail

# Versions. Each must build with the local Go toolchain (1.26.x) without a
# toolchain switch: the module's `go` line must not be newer than `go version`.
# helm v3.19.x is the release line whose client-go (v0.34) matches K8S_VERSION,
# which is also what Helm's version-skew policy recommends for Kubernetes 1.34.
K8S_VERSION="${K8S_VERSION:-v1.34.4}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
CONTOUR_VERSION="${CONTOUR_VERSION:-v1.33.6}"
HELM_VERSION="${HELM_VERSION:-v3.19.5}"
# CoreDNS v1.14.x: `go 1.25.0` in its go.mod (v1.15.0 asks for 1.26.0, also fine here); its
# kubernetes plugin's client-go is v0.34, the same minor as K8S_VERSION.
COREDNS_VERSION="${COREDNS_VERSION:-v1.14.7}"

ALL_NAMES=(kube-apiserver kube-controller-manager kubectl etcd contour helm kubelet kube-scheduler kube-proxy coredns)

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${CTI_BIN_CACHE:-$HOME/.cache/contour-tls-injector}"
BIN_DIR="$REPO/.bin"

START_TS=$(date +%s)
log() { printf '[%s +%4ss] %s\n' "$(date +%H:%M:%S)" "$(($(date +%s) - START_TS))" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

usage() { sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; }

# --- arguments -------------------------------------------------------------
SELECTED=("${ALL_NAMES[@]}")
while (($#)); do
  case "$1" in
    --only)
      [[ $# -ge 2 ]] || die "--only needs a value"
      IFS=',' read -r -a SELECTED <<<"$2"
      shift 2 ;;
    --only=*)
      IFS=',' read -r -a SELECTED <<<"${1#--only=}"
      shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage; die "unknown argument: $1" ;;
  esac
done
for n in "${SELECTED[@]}"; do
  [[ " ${ALL_NAMES[*]} " == *" $n "* ]] || die "unknown binary '$n' (known: ${ALL_NAMES[*]})"
done
selected() { [[ " ${SELECTED[*]} " == *" $1 "* ]]; }

version_of() {
  case "$1" in
    kube-apiserver|kube-controller-manager|kubectl|kubelet|kube-scheduler|kube-proxy) echo "$K8S_VERSION" ;;
    coredns) echo "$COREDNS_VERSION" ;;
    etcd) echo "$ETCD_VERSION" ;;
    contour) echo "$CONTOUR_VERSION" ;;
    helm) echo "$HELM_VERSION" ;;
  esac
}
dest_of() { echo "$CACHE/$1-$(version_of "$1")/$1"; }

# --- Go environment --------------------------------------------------------
command -v go >/dev/null || die "go is not on PATH"
# Never let a module's go/toolchain line silently fetch another toolchain:
# a version that needs a newer Go should fail loudly so we pick another one.
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
# A go.work somewhere above the cache must not leak into the wrapper modules.
export GOWORK=off
# Static binaries, as the upstream release builds are; also needs no C compiler.
export CGO_ENABLED=0
# GOPROXY, GOSUMDB, GOCACHE and GOMODCACHE are deliberately left as the
# machine has them (Go's defaults when unset), so a second run is warm.
GO_P=(-p 2)  # our machines have 2 cores; also bounds peak memory

mkdir -p "$CACHE" "$CACHE/.src" "$BIN_DIR"
# Two runs at once (e.g. a test harness and a developer) would race on the
# same temp names and wrapper modules; serialise them.
exec 9>"$CACHE/.lock"
if command -v flock >/dev/null; then
  flock -n 9 || { log "another build holds $CACHE/.lock; waiting"; flock 9; }
fi

log "$(go version); cache: $CACHE"

# Run go commands from a neutral directory so a go.mod in the caller's cwd
# (or in this repo, one day) is never picked up as the main module.
gorun() { (cd "$CACHE" && go "$@"); }

# Local path of a module's go.mod (downloads the module if needed).
gomod_file() {
  gorun mod download -json "$1" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p'
}
gomod_dir() {
  gorun mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p'
}

# The `go` and `godebug` directives of an upstream go.mod. A wrapper module
# copies them because the main module's go line decides the binary's default
# GODEBUG settings; keeping them makes our binary behave like the release.
go_directives() {
  awk '
    /^go[[:space:]]/ { print; next }
    /^godebug[[:space:]]*\(/ { inblock = 1; print; next }
    inblock { print; if ($0 ~ /^\)/) inblock = 0; next }
    /^godebug[[:space:]]/ { print }
  ' "$1"
}

# Build into a temp name, smoke-test it, then rename: a binary at its final
# path is always a complete, runnable one, so "exists" means "done".
#   install_built NAME TMPFILE
install_built() {
  local name=$1 tmp=$2 dest out
  dest=$(dest_of "$name")
  chmod 0755 "$tmp"
  if ! out=$(run_version "$name" "$tmp" 2>&1); then
    rm -f "$tmp"
    die "$name: built binary does not run: $out"
  fi
  mv -f "$tmp" "$dest"
}

run_version() {
  local name=$1 bin=$2
  case "$name" in
    kubectl) "$bin" version --client ;;
    contour) "$bin" version ;;
    helm) "$bin" version --short ;;
    coredns) "$bin" -version ;;
    *) "$bin" --version ;;
  esac
}

# --- Kubernetes ------------------------------------------------------------
# `go install k8s.io/kubernetes/cmd/...@v` is refused: k8s.io/kubernetes
# replaces its k8s.io/* staging modules with ./staging/src paths. A wrapper
# module requiring k8s.io/kubernetes can instead replace each staging module
# with its published v0.X.Y twin, which is the same source.
K8S_MOD_DIR=""
k8s_wrapper() {
  [[ -n "$K8S_MOD_DIR" ]] && return
  local dir="$CACHE/.src/k8s-$K8S_VERSION" upstream staging_version
  staging_version="v0.${K8S_VERSION#v1.}"
  log "kubernetes: preparing wrapper module in $dir (staging modules at $staging_version)"
  upstream=$(gomod_file "k8s.io/kubernetes@$K8S_VERSION")
  [[ -f "$upstream" ]] || die "could not download k8s.io/kubernetes@$K8S_VERSION"
  mkdir -p "$dir"
  # go.mod is rewritten every run (go.sum is kept): -mod=mod adds to it and
  # a half-updated one from an interrupted run must not stick around.
  {
    echo "module cti.local/build/kubernetes"
    echo
    go_directives "$upstream"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    echo "replace ("
    # Every staging module upstream points at ./staging/src/<module>.
    local mods
    mods=$(awk '/=>[[:space:]]*\.\/staging\/src\// {
                  sub(/^replace[[:space:]]+/, "");
                  print $1 }' "$upstream" | sort -u)
    [[ -n "$mods" ]] || die "no staging replace lines found in $upstream"
    local m
    for m in $mods; do
      printf '\t%s => %s %s\n' "$m" "$m" "$staging_version"
    done
    echo ")"
  } >"$dir/go.mod.new"
  mv -f "$dir/go.mod.new" "$dir/go.mod"
  log "kubernetes: $(grep -c '=> k8s.io/' "$dir/go.mod") staging modules mapped"
  K8S_MOD_DIR=$dir
}

build_k8s() {
  local name=$1 dest tmp minor ldflags="" pkg
  k8s_wrapper
  dest=$(dest_of "$name"); tmp="$dest.tmp.$$"
  minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
  # hack/lib/version.sh sets these in both packages; without them the
  # binaries report v0.0.0-master and /version lies to clients.
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  done
  pkg="k8s.io/kubernetes/cmd/$name"
  (cd "$K8S_MOD_DIR" && go build -mod=mod "${GO_P[@]}" -trimpath \
      -ldflags "-s -w$ldflags" -o "$tmp" "$pkg")
  install_built "$name" "$tmp"
}

# --- etcd ------------------------------------------------------------------
# The etcd binary's main package is the root of go.etcd.io/etcd/server/v3
# (it just calls etcdmain.Main). That module has replace directives, so
# `go install` refuses it; build it as a dependency of a wrapper module.
build_etcd() {
  local dir="$CACHE/.src/etcd-$ETCD_VERSION" upstream dest tmp
  upstream=$(gomod_file "go.etcd.io/etcd/server/v3@$ETCD_VERSION")
  [[ -f "$upstream" ]] || die "could not download go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  mkdir -p "$dir"
  {
    echo "module cti.local/build/etcd"
    echo
    go_directives "$upstream"
    echo
    echo "require go.etcd.io/etcd/server/v3 $ETCD_VERSION"
  } >"$dir/go.mod.new"
  mv -f "$dir/go.mod.new" "$dir/go.mod"
  dest=$(dest_of etcd); tmp="$dest.tmp.$$"
  (cd "$dir" && go build -mod=mod "${GO_P[@]}" -trimpath -ldflags "-s -w" \
      -o "$tmp" go.etcd.io/etcd/server/v3)
  install_built etcd "$tmp"
}

# --- go install'able tools -------------------------------------------------
# go install names the binary after the package and drops it in GOBIN, so
# point GOBIN at a private temp dir and move the result into place.
#   go_install NAME PKG@VERSION [go build flags...]
go_install() {
  local name=$1 pkgver=$2 dest tmpdir
  shift 2
  dest=$(dest_of "$name")
  tmpdir="$(dirname "$dest")/.gobin.$$"
  rm -rf "$tmpdir"; mkdir -p "$tmpdir"
  (cd "$CACHE" && GOBIN="$tmpdir" go install "${GO_P[@]}" -trimpath "$@" "$pkgver")
  mv -f "$tmpdir/$name" "$dest.tmp.$$"
  rmdir "$tmpdir"
  install_built "$name" "$dest.tmp.$$"
}

build_contour() {
  local b=github.com/projectcontour/contour/internal/build
  # Same tags as upstream's Makefile (pure-Go user/net lookups, auth plugins).
  go_install contour "github.com/projectcontour/contour/cmd/contour@$CONTOUR_VERSION" \
    -tags "oidc gcp osusergo netgo" -ldflags "-s -w -X $b.Version=$CONTOUR_VERSION"
}

# CoreDNS's module has no replace directives and commits its generated plugin list (zplugin.go),
# so `go install` builds the release's default plugin set as is.
build_coredns() {
  go_install coredns "github.com/coredns/coredns@$COREDNS_VERSION" \
    -ldflags "-s -w -X github.com/coredns/coredns/coremain.GitCommit=$COREDNS_VERSION"
}

build_helm() {
  local v=helm.sh/helm/v3/internal/version upstream cg major minor
  # Helm's Makefile derives the Kubernetes version it assumes offline
  # (`helm template`, lint deprecations) from its client-go version.
  upstream=$(gomod_file "helm.sh/helm/v3@$HELM_VERSION")
  cg=$(awk '$1 == "k8s.io/client-go" { print $2; exit }' "$upstream")
  cg=${cg#v0.}; major=1; minor=${cg%%.*}
  local ldflags="-s -w -X $v.version=$HELM_VERSION -X $v.gitTreeState=clean"
  if [[ "$minor" =~ ^[0-9]+$ ]]; then
    for p in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
      ldflags+=" -X $p.k8sVersionMajor=$major -X $p.k8sVersionMinor=$minor"
    done
  fi
  go_install helm "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" -ldflags "$ldflags"
}

# The CRDs ship in the contour module source; tests apply them to the
# apiserver, so keep a copy next to the matching binary.
ensure_contour_crds() {
  local dest="$CACHE/contour-$CONTOUR_VERSION/01-crds.yaml" src
  if [[ ! -s "$dest" ]]; then
    src="$(gomod_dir "github.com/projectcontour/contour@$CONTOUR_VERSION")/examples/contour/01-crds.yaml"
    [[ -s "$src" ]] || die "contour CRDs not found at $src"
    mkdir -p "$(dirname "$dest")"
    # The module cache is read-only; install gives the copy normal modes.
    install -m 0644 "$src" "$dest.tmp.$$"
    mv -f "$dest.tmp.$$" "$dest"
    log "contour: CRDs copied to $dest"
  fi
  ln -sfn "$dest" "$BIN_DIR/contour-crds.yaml"
}

# --- main ------------------------------------------------------------------
# Remove this run's temp files if it dies half-way (they are never
# mistaken for finished binaries, but they waste space).
trap 'rm -rf "$CACHE"/*/*.tmp.$$ "$CACHE"/*/.gobin.$$' EXIT
trap 'exit 130' INT TERM  # so the EXIT trap also runs when interrupted

declare -A TOOK
for name in "${ALL_NAMES[@]}"; do
  selected "$name" || continue
  dest=$(dest_of "$name")
  if [[ -x "$dest" ]]; then
    log "$name $(version_of "$name"): cached"
    TOOK[$name]="cached"
    continue
  fi
  mkdir -p "$(dirname "$dest")"
  log "$name $(version_of "$name"): building"
  t0=$(date +%s)
  case "$name" in
    kube-apiserver|kube-controller-manager|kubectl|kubelet|kube-scheduler|kube-proxy) build_k8s "$name" ;;
    coredns) build_coredns ;;
    etcd) build_etcd ;;
    contour) build_contour ;;
    helm) build_helm ;;
  esac
  TOOK[$name]="$(($(date +%s) - t0))s"
  log "$name $(version_of "$name"): built in ${TOOK[$name]} ($(du -h "$dest" | cut -f1))"
done

if selected contour; then ensure_contour_crds; fi

# Link every binary we have at the configured versions, not only the
# selected ones, so --only never leaves .bin/ pointing at other versions.
for name in "${ALL_NAMES[@]}"; do
  dest=$(dest_of "$name")
  if [[ -x "$dest" ]]; then ln -sfn "$dest" "$BIN_DIR/$name"; fi
done
if [[ -s "$CACHE/contour-$CONTOUR_VERSION/01-crds.yaml" ]]; then
  ln -sfn "$CACHE/contour-$CONTOUR_VERSION/01-crds.yaml" "$BIN_DIR/contour-crds.yaml"
fi

log "versions:"
for name in "${SELECTED[@]}"; do
  printf '== %s (%s, %s)\n' "$name" "$(version_of "$name")" "${TOOK[$name]}" >&2
  run_version "$name" "$BIN_DIR/$name" 2>&1 | sed 's/^/   /' >&2
done
log "done in $(($(date +%s) - START_TS))s; cache size $(du -sh "$CACHE" | cut -f1)"
