# reviewgate container image: `docker build --build-arg VERSION=0.1.0 --build-arg REVISION=$(git rev-parse HEAD) -t reviewgate .`
# Runs `reviewgate serve`; configure it with REVIEWGATE_* environment variables (docs/deploy.md).

# ---- build ------------------------------------------------------------------------------------
FROM rust:1.95-slim-bookworm AS builder
WORKDIR /build

# Dependencies first, so this layer is reused until Cargo.toml or Cargo.lock change. Cargo needs
# every target the manifest names to exist, hence the stand-in main.rs, lib.rs and one file
# per [[bench]] it declares (read from Cargo.toml, so a new bench cannot break the build;
# .ci/check-deploy.py runs these stand-in lines and checks every target has its file).
COPY Cargo.toml Cargo.lock ./
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN mkdir -p src benches \
    && echo 'fn main() {}' > src/main.rs \
    && echo '' > src/lib.rs \
    && sed -n '/^\[\[bench\]\]/,/^name/s/^name = "\(.*\)"/\1/p' Cargo.toml \
        | while read -r bench; do echo 'fn main() {}' > "benches/$bench.rs"; done \
    && cargo build --release --locked --bin reviewgate \
    && rm -rf src

# The real sources. COPY keeps the files' own modification times, older than the stand-ins'
# build, and cargo would then ship the stand-in binary: touch the crate roots so it rebuilds the
# crate. The stand-in prints no version, so the last test fails the build if that ever recurs.
COPY src ./src
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked --bin reviewgate \
    && [ -n "$(./target/release/reviewgate --version)" ]

# The store's directory, made here because the run stage has no shell (copied below).
RUN mkdir -m 0750 /build/store

# ---- run --------------------------------------------------------------------------------------
# distroless/cc: glibc and libgcc_s (the binary links both), CA certificates (GitHub is reached
# over TLS checked against the system roots), no shell, no package manager.
FROM gcr.io/distroless/cc-debian12:nonroot

ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="reviewgate" \
      org.opencontainers.image.description="A GitHub App that gates merges on a code-review policy kept in the repository" \
      org.opencontainers.image.source="https://github.com/reviewgate/reviewgate" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"

COPY --from=builder /build/target/release/reviewgate /usr/local/bin/reviewgate

# The store: a SQLite file in a directory the image's user owns (docs/deploy.md, "Which to
# pick"). Mount a volume there to keep it: Kubernetes' base mounts the PersistentVolumeClaim
# reviewgate-data, and for `docker run` use -v DIR:/var/lib/reviewgate. No VOLUME instruction:
# it would make Docker keep the state in an anonymous volume that goes with the container (and
# `docker run --rm`) unless one is mounted; overlays/ha sets a PostgreSQL URL instead.
COPY --from=builder --chown=65532:65532 /build/store /var/lib/reviewgate
ENV REVIEWGATE_DATABASE_URL=sqlite:/var/lib/reviewgate/reviewgate.db

# The distroless "nonroot" user, by number so Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/reviewgate", "serve"]
