# syntax=docker/dockerfile:1
#
# mailpulse container image: one binary, every component chosen by subcommand
# (`edge`, `aggregate`, `api`, `migrate`, `topics create`).
#
# NOTE: this image has never been built on the project's build machines — they have no
# container engine. The chart (helm/mailpulse) is checked with `scripts/helm-check`; build and
# push this image from a machine or CI runner that has docker/buildkit:
#
#     docker build -t <registry>/mailpulse:<version> .
#
# ---------------------------------------------------------------------------------------------
# Builder: librdkafka is bundled by the rdkafka crate and built with its own configure + make
# (no cmake), which needs a C toolchain and python3.
FROM rust:1-bookworm AS builder

RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential python3 \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .

# Cache mounts keep the registry and the target dir between builds; the binary is copied out
# because the target dir is not part of the layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin mailpulse \
 && cp target/release/mailpulse /usr/local/bin/mailpulse

# ---------------------------------------------------------------------------------------------
# Runtime: glibc (the binary links it dynamically), CA certificates for TLS to Kafka and
# ClickHouse, and `sleep` for the chart's preStop hook. Nothing else.
FROM debian:bookworm-slim AS runtime

RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 mailpulse \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin mailpulse \
 && mkdir -p /var/lib/mailpulse/spool /var/lib/mailpulse/geoip /etc/mailpulse \
 && chown -R 10001:10001 /var/lib/mailpulse

COPY --from=builder /usr/local/bin/mailpulse /usr/local/bin/mailpulse

# Numeric user so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001
WORKDIR /var/lib/mailpulse
# edge, api, aggregator admin (health + metrics)
EXPOSE 8080 8081 9102

ENTRYPOINT ["mailpulse"]
