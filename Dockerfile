# The server image (agentflow-server:latest): the compiled binary on a slim Debian, with bash,
# bubblewrap and prlimit for bash sessions. Build it with scripts/build-images.sh, which compiles
# the binary first and, on a machine with no registry, makes the Debian base locally. Where a
# registry exists: bun run build && docker build --build-arg BASE=debian:bookworm-slim -t agentflow-server .
ARG BASE=agentflow-base:bookworm
FROM ${BASE} AS system

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      bash bubblewrap util-linux procps ca-certificates \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/* \
      /usr/share/doc/* /usr/share/man/* /usr/share/info/* /usr/share/locale/*

# A fixed, unprivileged user. Bash sessions, the store and rag indexes need no root; talking to a
# mounted Docker socket (vm sessions) needs its group: docker run --group-add <gid of the socket>.
RUN useradd --system --uid 10001 --user-group --home-dir /data --shell /usr/sbin/nologin agentflow \
 && mkdir -p /data && chown agentflow:agentflow /data

# One flat layer: what the clean-up above removed does not linger in a lower one.
FROM scratch
COPY --from=system / /
COPY dist/agentflow-server /usr/local/bin/agentflow-server

# Inside a container the server listens on every interface; without AGENTFLOW_API_KEY it refuses
# to (SPEC §8) unless started with --insecure.
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 \
    AGENTFLOW_HOST=0.0.0.0 \
    AGENTFLOW_DATA_DIR=/data
USER agentflow
WORKDIR /data
VOLUME /data
EXPOSE 18890

# No curl in the image: bash's /dev/tcp asks /health.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 CMD ["bash", "-c", \
  "exec 3<>/dev/tcp/127.0.0.1/${AGENTFLOW_PORT:-18890} && printf 'GET /health HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && grep -q '\"status\":\"ok\"' <&3"]

ENTRYPOINT ["/usr/local/bin/agentflow-server"]
