#!/usr/bin/env bash
# Checks the server image (agentflow-server:latest) the way a self-hoster runs it: start a
# container, then /health, a bash:run, a rag:search and the key check through the published port,
# and its size. Needs a Docker engine and the image (scripts/build-images.sh builds it).
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${AGENTFLOW_SERVER_IMAGE:-agentflow-server:latest}
BASE=${AGENTFLOW_BASE_IMAGE:-agentflow-base:bookworm}
KEY=smoke-key-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
NAME=agentflow-smoke-$$
PORT=$((20000 + RANDOM % 20000))

log() { printf '[smoke-server-image] %s\n' "$*" >&2; }
fail() { log "FAILED: $*"; docker logs "$NAME" 2>&1 | tail -n 20 >&2 || true; exit 1; }

if ! docker image inspect "$IMAGE" >/dev/null 2>&1; then
  log "no $IMAGE yet: building it (scripts/build-images.sh builds every image)"
  bun run build >/dev/null
  docker build --quiet --network host --build-arg "BASE=$BASE" -t "$IMAGE" . >/dev/null
fi
size=$(docker image inspect -f '{{.Size}}' "$IMAGE")
log "image size: $((size / 1024 / 1024)) MB"
[ "$size" -lt $((250 * 1024 * 1024)) ] || fail "image is over 250 MB"

# As the README's docker run line: the Docker socket (and its group) for vm sessions, which run
# as sibling containers, and the data directory on a named volume.
VOLUME=$NAME-data
trap 'docker rm -f "$NAME" >/dev/null 2>&1 || true; docker volume rm -f "$VOLUME" >/dev/null 2>&1 || true' EXIT
docker run -d --name "$NAME" -p "127.0.0.1:$PORT:18890" -e "AGENTFLOW_API_KEY=$KEY" \
  -v /var/run/docker.sock:/var/run/docker.sock -v "$VOLUME:/data" \
  --group-add "$(stat -c %g /var/run/docker.sock)" \
  --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
  --security-opt systempaths=unconfined "$IMAGE" >/dev/null
url="http://127.0.0.1:$PORT"
for _ in $(seq 100); do
  curl -fsS "$url/health" >/dev/null 2>&1 && break
  sleep 0.1
done
health=$(curl -fsS "$url/health") || fail "/health"
grep -q '"status":"ok"' <<<"$health" || fail "/health answered $health"
post() { curl -sS -X POST "$url$1" -H "authorization: Bearer $KEY" -d "$2"; }
out=$(post /execute '{"worker_id":"smoke","action":"bash:run","params":{"command":"echo hello from $(id -un)"}}')
grep -q '"stdout":"hello from agentflow\\n"' <<<"$out" || fail "bash:run answered $out"
out=$(post /execute '{"worker_id":"smoke","action":"rag:search","params":{"query":"session","top_k":2}}')
grep -q '"code":0' <<<"$out" || fail "rag:search answered $out"
status=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$url/execute" -d '{}')
[ "$status" = 401 ] || fail "a request without the key answered $status, not 401"
# Here-strings, not `cmd | grep -q`: grep quitting early would fail the pipe under pipefail.
logs=$(docker logs "$NAME" 2>&1)
grep -q '"isolation":"bwrap"' <<<"$logs" || fail "bash sessions are not sandboxed in the container"
if docker image inspect agentflow-desktop:latest >/dev/null 2>&1; then
  # A desktop made by the server in a container: its X socket folder is on the /data volume, so
  # the server must find that volume's path on the host for the bind mount of the sibling.
  out=$(post /session/create '{"worker_id":"smoke-vm","resource_type":"vm","config":{"screen_size":[800,600]}}')
  grep -q '"code":0' <<<"$out" || fail "vm session create answered $out"
  out=$(post /execute '{"worker_id":"smoke-vm","action":"vm:screenshot"}')
  grep -q '"width":800' <<<"$out" || fail "vm:screenshot answered ${out:0:300}"
  out=$(post /session/destroy '{"worker_id":"smoke-vm"}')
  grep -q '"code":0' <<<"$out" || fail "vm session destroy answered $out"
  vm=", a vm session (sibling container)"
fi
log "ok: /health, bash:run (sandboxed), rag:search${vm:-}, and the key check, from the container"
