# Builds the two production binaries, `ingestor` and `graphql-api`, into one small image.
#
#   docker build -t fever:local .
#   docker run --rm fever:local graphql-api --help
#   docker run --rm -e DATABASE_URL=postgres://... fever:local ingestor migrate
#
# The default command serves the API on 0.0.0.0:8080; pass another command to run the
# ingestor (`ingestor run`, `ingestor migrate`, ...). See docs/DEPLOYMENT.md.

# The toolchain pinned by rust-toolchain.toml.
ARG RUST_VERSION=1.95.0

# ---------------------------------------------------------------------------------------------
FROM rust:${RUST_VERSION}-slim-bookworm AS build
ARG RUST_VERSION
# Use the image's toolchain as it is: rust-toolchain.toml names the same version but also
# asks for rustfmt and clippy, which a release build does not need.
ENV RUSTUP_TOOLCHAIN=${RUST_VERSION} \
    CARGO_TERM_COLOR=never \
    CARGO_INCREMENTAL=0
WORKDIR /src

# 1. Dependencies: the manifests and the lock file only, with empty crate sources, so this
#    layer is rebuilt only when a manifest or Cargo.lock changes.
COPY Cargo.toml Cargo.lock rust-toolchain.toml ./
COPY entity/Cargo.toml entity/
COPY migration/Cargo.toml migration/
COPY lifecycle/Cargo.toml lifecycle/
COPY ingestor/Cargo.toml ingestor/
COPY graphql-api/Cargo.toml graphql-api/
COPY test-support/Cargo.toml test-support/
RUN set -eux; \
    for crate in . entity migration lifecycle ingestor graphql-api test-support; do \
        mkdir -p "$crate/src"; \
        : > "$crate/src/lib.rs"; \
    done; \
    for crate in . ingestor graphql-api; do \
        echo 'fn main() {}' > "$crate/src/main.rs"; \
    done; \
    mkdir -p ingestor/benches; \
    for bench in parse ingest scheduler; do \
        echo 'fn main() {}' > "ingestor/benches/$bench.rs"; \
    done; \
    rustc --version; \
    cargo build --release --locked -p ingestor -p graphql-api; \
    rm -rf ./src entity/src migration/src lifecycle/src ingestor/src ingestor/benches \
        graphql-api/src test-support/src

# 2. The workspace itself. The copied sources may be older than the stubs just built, so
#    touch them: cargo must see them as changed.
#    The release profile keeps line tables, so panics and backtraces name file and line; they
#    make the binaries about 4 times larger. `--build-arg STRIP_DEBUG=1` drops them.
ARG STRIP_DEBUG=0
COPY . .
RUN set -eux; \
    find src entity migration lifecycle ingestor graphql-api test-support \
        -name '*.rs' -exec touch {} +; \
    cargo build --release --locked -p ingestor -p graphql-api; \
    mkdir -p /out; \
    cp target/release/ingestor target/release/graphql-api /out/; \
    if [ "$STRIP_DEBUG" = 1 ]; then strip --strip-debug /out/ingestor /out/graphql-api; fi

# ---------------------------------------------------------------------------------------------
FROM debian:bookworm-slim AS runtime

# TLS is rustls (no OpenSSL); ca-certificates is for fetching providers' https feeds. Its
# version follows the base image, which is what gets security updates.
# hadolint ignore=DL3008
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends ca-certificates; \
    rm -rf /var/lib/apt/lists/*

# A non-root user. /app is its working directory, so the embedded SQLite default
# (sqlite://data/fever.db) still works for a quick `docker run` without PostgreSQL.
RUN set -eux; \
    groupadd --system --gid 10001 fever; \
    useradd --system --uid 10001 --gid fever --home-dir /app --shell /usr/sbin/nologin fever; \
    mkdir -p /app/data; \
    chown -R fever:fever /app

COPY --from=build /out/ingestor /out/graphql-api /usr/local/bin/

USER 10001:10001
WORKDIR /app
EXPOSE 8080
# Both binaries stop gracefully on SIGTERM (the default stop signal).
STOPSIGNAL SIGTERM
# No HEALTHCHECK here: the image also runs the ingestor, which serves no HTTP, and the runtime
# has no HTTP client. Probe the API's /livez and /readyz from the orchestrator instead
# (deploy/compose.yaml does it with bash's /dev/tcp).
CMD ["graphql-api", "serve", "--listen", "0.0.0.0:8080"]
