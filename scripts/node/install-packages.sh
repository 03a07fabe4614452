#!/usr/bin/env bash
# Installs what a real node needs from Debian's packages, unless already there: containerd (the
# CRI runtime, with ctr), runc, the CNI plugins (bridge, host-local, loopback, portmap in
# /usr/lib/cni), iptables (kube-proxy's and the kubelet's chains), iproute2 (ip netns, veth) and
# util-linux (nsenter). Idempotent: a second run only checks, in well under a second.
#
# Usage: bash scripts/node/install-packages.sh      (root; apt-get update runs only if needed)
# Nothing is started or enabled: the cluster scripts run containerd themselves, with their own
# config and state directory (Debian's unit is never started here: there is no systemd).
set -euo pipefail
started=$(date +%s)
log() { printf '[%s +%3ss] node packages: %s\n' "$(date +%H:%M:%S)" "$(($(date +%s) - started))" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ $(id -u) == 0 ]] || die "run as root (apt-get install); the real node itself needs root too (ERR_NODE_NOT_ROOT)"
command -v apt-get >/dev/null || die "apt-get not found: this script installs from Debian's packages"

# binary:package pairs; a binary present anywhere on PATH (or the CNI plugin file) is enough.
missing=()
for pair in containerd:containerd ctr:containerd runc:runc iptables:iptables ip:iproute2 nsenter:util-linux; do
  command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
for plugin in bridge host-local loopback portmap; do
  [[ -x /usr/lib/cni/$plugin ]] || { missing+=(containernetworking-plugins); break; }
done
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u | sed '/^$/d')

if ((${#missing[@]})); then
  log "installing ${missing[*]} (apt-get update first)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    -o Dpkg::Options::=--force-confold "${missing[@]}" >/dev/null
  log "installed ${missing[*]}"
fi
for bin in containerd runc iptables ip nsenter; do command -v "$bin" >/dev/null || die "$bin still missing after apt-get install"; done
log "ready: $(containerd --version | cut -d' ' -f2-3), runc $(runc --version | sed -n 's/^runc version //p'), $(iptables --version), CNI plugins $(dpkg-query -W -f '${Version}' containernetworking-plugins)"
