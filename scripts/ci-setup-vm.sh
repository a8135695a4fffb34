#!/usr/bin/env bash
# CI / fresh-machine setup for the vm backend's tests: installs Docker (docker.io), QEMU and
# debootstrap from Debian's packages when missing, starts dockerd when no engine answers, and
# builds the images (scripts/build-images.sh skips images that are up to date). Idempotent; safe
# to run on every CI start. Exits non-zero only when the engine cannot be started or the build
# fails, so the tests never silently skip on a machine that could run them.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[ci-setup-vm] %s\n' "$*" >&2; }

need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
command -v qemu-system-x86_64 >/dev/null 2>&1 || need+=(qemu-system-x86)
command -v qemu-img >/dev/null 2>&1 || need+=(qemu-utils)
command -v cpio >/dev/null 2>&1 || need+=(cpio)
# The test guest needs a static busybox (a dynamic one, package busybox, is replaced).
if ! command -v busybox >/dev/null 2>&1 || ldd "$(command -v busybox)" >/dev/null 2>&1; then
  need+=(busybox-static)
fi
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  log "starting dockerd (log: /tmp/dockerd.log)"
  nohup dockerd >/tmp/dockerd.log 2>&1 &
  for _ in $(seq 1 100); do
    docker info >/dev/null 2>&1 && break
    sleep 0.2
  done
  if ! docker info >/dev/null 2>&1; then
    tail -n 30 /tmp/dockerd.log >&2
    log "dockerd did not start"
    exit 1
  fi
fi

bash scripts/build-images.sh
if [ -f scripts/build-qemu-guest.sh ]; then
  bash scripts/build-qemu-guest.sh
fi
log "ready: $(docker image inspect -f '{{.RepoTags}} {{.Size}}' agentflow-desktop:latest)"
