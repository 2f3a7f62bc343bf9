# Tailor's container image: a Rust builder stage and a small Debian runtime.
#
#   docker build -t tailor:0.1.0 .
#   docker run --rm -p 8080:8080 tailor:0.1.0            # demo: SQLite in /var/lib/tailor
#
# The production topology (three nodes, PostgreSQL, Redis, nginx) is deploy/compose.yaml,
# and the operator's guide is docs/deploy.md. tests/container/check.sh lints this file.

############################################################################ builder
# Same Debian release as the runtime stage, so the binary links against the same glibc.
FROM rust:1.95.0-bookworm AS builder

SHELL ["/bin/bash", "-o", "pipefail", "-c"]
WORKDIR /build
ENV CARGO_TERM_COLOR=never \
    CARGO_NET_RETRY=5

# 1. Dependencies only, cached until Cargo.toml, Cargo.lock or migrations/Cargo.toml
#    change: the workspace is built once with stub sources. Cargo refuses a manifest whose
#    declared [[bench]] files are missing, so each declared bench gets a stub too (its
#    names are read from Cargo.toml; benches are never built here). tests/api/main.rs is
#    the [[test]] target's declared path.
COPY Cargo.toml Cargo.lock ./
COPY migrations/Cargo.toml migrations/Cargo.toml
RUN mkdir -p src migrations/src benches tests/api \
 && echo 'fn main() {}' > src/main.rs \
 && : > src/lib.rs \
 && : > migrations/src/lib.rs \
 && echo 'fn main() {}' > tests/api/main.rs \
 && awk '/^\[\[bench\]\]/ { b = 1; next } /^\[/ { b = 0 } b && $1 == "name" { gsub(/"/, "", $3); print $3 }' Cargo.toml \
    | while read -r bench; do echo 'fn main() {}' > "benches/${bench}.rs"; done \
 && cargo build --release --locked \
 && rm -rf src migrations/src

# 2. The service itself, with what it compiles in from outside src/ (include_str!: the
#    web SDK it serves). COPY keeps the files' own modification times, which can be
#    older than the stub build's outputs: touch the crate roots and drop the stubs'
#    fingerprints so cargo cannot mistake the stub build for this one.
COPY sdk/tailor.js sdk/tailor.js
COPY migrations/src migrations/src
COPY src src
RUN touch src/main.rs src/lib.rs migrations/src/lib.rs \
 && rm -rf target/release/.fingerprint/tailor-* \
 && cargo build --release --locked \
 && install -m 0755 target/release/tailor /usr/local/bin/tailor \
 && /usr/local/bin/tailor --version | grep -q '^tailor '

############################################################################ runtime
# What the binary needs at run time is in the base image already: glibc (also for
# malloc_trim) and libgcc_s. TLS is rustls with Mozilla's roots compiled in
# (webpki-roots: reqwest for the purge webhook, sqlx for PostgreSQL), SQLite is compiled
# in (libsqlite3-sys "bundled"), and no OpenSSL is linked, so neither libssl nor the
# ca-certificates bundle is installed. A private CA for PostgreSQL is given in
# DATABASE_URL (sslrootcert=/path, mounted).
FROM debian:bookworm-slim AS runtime

ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="tailor" \
      org.opencontainers.image.description="Contextual, localised, edge-cacheable content delivery API" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="docker.io/library/debian:bookworm-slim"

# A fixed, unprivileged user (10001) that owns only its data directory: the embedded
# SQLite default (`sqlite://tailor.db`, relative to the working directory) lives there.
RUN groupadd --system --gid 10001 tailor \
 && useradd --system --no-log-init --uid 10001 --gid tailor \
        --home-dir /var/lib/tailor --shell /usr/sbin/nologin tailor \
 && install -d -o tailor -g tailor -m 0750 /var/lib/tailor

COPY --from=builder /usr/local/bin/tailor /usr/local/bin/tailor
# The demo content, read-only for the service: imported on start (import_on_start), and
# checked by `tailor validate`. Mount your own over these two directories (or build
# FROM this image and COPY yours) — see docs/deploy.md, "Content".
COPY content /usr/share/tailor/content
COPY locales /usr/share/tailor/locales

# Only real settings may be set here: Tailor refuses unknown TAILOR_* variables.
ENV TAILOR_BIND=0.0.0.0:8080 \
    TAILOR_CONTENT_DIR=/usr/share/tailor/content \
    TAILOR_LOCALES_DIR=/usr/share/tailor/locales \
    TAILOR_LOG_FORMAT=json

WORKDIR /var/lib/tailor
USER 10001:10001
EXPOSE 8080

# /readyz answers 200 while the node serves (also "degraded": it still serves without
# Redis or the database) and is computed by background probes, so it never waits on a
# dependency. No curl in the image: bash's /dev/tcp speaks the one request. The port
# comes from TAILOR_BIND. Orchestrators with their own probes (Kubernetes) use
# GET /healthz for liveness and GET /readyz for readiness instead.
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["/bin/bash", "-c", "bind=${TAILOR_BIND:-0.0.0.0:8080}; exec 3<>/dev/tcp/127.0.0.1/${bind##*:} && printf 'GET /readyz HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && read -r -t 2 _ status _ <&3 && [ \"$status\" = 200 ]"]

# SIGTERM: stop accepting, finish requests in flight (shutdown_timeout_secs, 30 s by
# default), commit the events they handed over, exit 0. Give the container more than
# that to stop (compose: stop_grace_period: 40s).
STOPSIGNAL SIGTERM
ENTRYPOINT ["tailor"]
CMD ["serve"]
