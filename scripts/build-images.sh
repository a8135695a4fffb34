#!/usr/bin/env bash
# Builds every image of the project on a machine with no container registry: a Debian base made
# locally (debootstrap from the configured Debian mirror, then `docker import`), the desktop image
# the vm backend runs (images/desktop/Dockerfile) and the server image (Dockerfile), both FROM it. Where a registry exists the same
# Dockerfile builds on its default base: docker build images/desktop.
#
# Cached: an image is rebuilt only when it is missing or its sources changed (the desktop image
# carries a hash of images/desktop/ as a label). --force rebuilds both.
#
# Environment: AGENTFLOW_BASE_IMAGE (agentflow-base:bookworm), AGENTFLOW_DESKTOP_IMAGE
# (agentflow-desktop:latest), DEBIAN_MIRROR (default: the mirror apt uses here), DEBIAN_SUITE.
set -euo pipefail
cd "$(dirname "$0")/.."

BASE_IMAGE=${AGENTFLOW_BASE_IMAGE:-agentflow-base:bookworm}
DESKTOP_IMAGE=${AGENTFLOW_DESKTOP_IMAGE:-agentflow-desktop:latest}
SUITE=${DEBIAN_SUITE:-bookworm}
FORCE=0
[ "${1:-}" = "--force" ] && FORCE=1

log() { printf '[build-images] %s\n' "$*" >&2; }

if ! docker info >/dev/null 2>&1; then
  log "no Docker engine answers (docker info failed); start dockerd first (scripts/ci-setup-vm.sh does)"
  exit 1
fi

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# The Debian mirror apt is configured with (deb822 .sources or the classic sources.list); empty
# when there is none (then DEBIAN_MIRROR must say).
detect_mirror() {
  local uri
  uri=$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null |
    awk '{print $2}' | grep -v -- '-security' | head -n1 || true)
  if [ -z "$uri" ]; then
    uri=$(grep -hE '^deb[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
      awk '{ for (i = 2; i <= NF; i++) if ($i !~ /^\[/) { print $i; exit } }' |
      grep -v -- '-security' | head -n1 || true)
  fi
  echo "$uri"
}

build_base() {
  if ! command -v debootstrap >/dev/null 2>&1; then
    log "debootstrap is missing: apt-get install -y --no-install-recommends debootstrap"
    exit 1
  fi
  local mirror rootfs
  mirror=${DEBIAN_MIRROR:-$(detect_mirror)}
  if [ -z "$mirror" ]; then
    log "no Debian mirror found in /etc/apt (sources.list or sources.list.d): set DEBIAN_MIRROR"
    exit 1
  fi
  rootfs=$(mktemp -d /tmp/agentflow-rootfs.XXXXXX)
  trap 'rm -rf "$rootfs"' EXIT
  log "debootstrap $SUITE from $mirror (a few minutes)"
  debootstrap --variant=minbase "$SUITE" "$rootfs" "$mirror" >/tmp/agentflow-debootstrap.log 2>&1 || {
    tail -n 20 /tmp/agentflow-debootstrap.log >&2
    log "debootstrap failed; full log in /tmp/agentflow-debootstrap.log"
    exit 1
  }
  # Keep the image small and apt quiet about snapshot mirrors whose Release files have expired.
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  printf 'Acquire::Check-Valid-Until "false";\n' >"$rootfs/etc/apt/apt.conf.d/99agentflow-snapshot"
  log "importing the root filesystem as $BASE_IMAGE"
  tar -C "$rootfs" -c . | docker import \
    --change 'CMD ["/bin/bash"]' --change 'ENV LANG=C.UTF-8' - "$BASE_IMAGE" >/dev/null
  rm -rf "$rootfs"
  trap - EXIT
}

source_hash() {
  (cd images/desktop && find . -type f -print0 | sort -z | xargs -0 sha256sum) |
    sha256sum | cut -c1-16
}

if [ $FORCE = 1 ] || ! image_exists "$BASE_IMAGE"; then
  build_base
else
  log "$BASE_IMAGE exists"
fi

hash=$(source_hash)
current=$(docker image inspect -f '{{ index .Config.Labels "agentflow.source_hash" }}' "$DESKTOP_IMAGE" 2>/dev/null || true)
if [ $FORCE = 1 ] || [ "$current" != "$hash" ]; then
  log "building $DESKTOP_IMAGE from images/desktop on $BASE_IMAGE"
  # Host networking: the build reaches the Debian mirror the way this machine does (no NAT/DNS).
  build_log=/tmp/agentflow-build-desktop.log
  if ! docker build --network host --build-arg "BASE=$BASE_IMAGE" \
    --label "agentflow.source_hash=$hash" -t "$DESKTOP_IMAGE" images/desktop >"$build_log" 2>&1; then
    tail -n 30 "$build_log" >&2
    log "docker build failed; full log in $build_log"
    exit 1
  fi
  log "built $DESKTOP_IMAGE"
else
  log "$DESKTOP_IMAGE is up to date"
fi

# The server image (Dockerfile at the root): the compiled binary on the same local base. Skipped
# with --desktop-only, or when Bun is not installed (the desktop image does not need it).
if [ "${1:-}" != "--desktop-only" ] && command -v bun >/dev/null 2>&1; then
  SERVER_IMAGE=${AGENTFLOW_SERVER_IMAGE:-agentflow-server:latest}
  log "compiling the server binary (bun run build)"
  bun run build >/dev/null
  log "building $SERVER_IMAGE on $BASE_IMAGE"
  build_log=/tmp/agentflow-build-server.log
  if ! docker build --network host --build-arg "BASE=$BASE_IMAGE" -t "$SERVER_IMAGE" . \
    >"$build_log" 2>&1; then
    tail -n 30 "$build_log" >&2
    log "docker build failed; full log in $build_log"
    exit 1
  fi
  log "built $SERVER_IMAGE ($(($(docker image inspect -f '{{.Size}}' "$SERVER_IMAGE") / 1024 / 1024)) MB)"
fi
