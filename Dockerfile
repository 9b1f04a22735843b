# Coffer in a container: a multi-stage build of the release binary into a small Debian image
# that runs as a non-root user with its data directory on a volume.
#
#   docker build -t coffer .
#   docker run --rm -p 8443:8443 -v coffer-data:/data coffer
#
# The server listens on 0.0.0.0:8443 inside the container; clients use the mapped port (pass
# --public-port when it differs from 8443, so URLs and ids name the port clients call).

FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p coffer-server \
 && cp target/release/coffer /usr/local/bin/coffer \
 && strip /usr/local/bin/coffer

FROM debian:bookworm-slim
# ca-certificates: the system CA set that goes into tls/ca-bundle.pem beside Coffer's CA;
# curl: the health check.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin coffer \
 && mkdir -p /data && chown coffer:coffer /data && chmod 0700 /data
COPY --from=build /usr/local/bin/coffer /usr/local/bin/coffer
USER coffer
VOLUME ["/data"]
ENV COFFER_DATA_DIR=/data COFFER_LISTEN=0.0.0.0:8443
EXPOSE 8443
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD curl -fsk https://127.0.0.1:8443/healthz || exit 1
ENTRYPOINT ["coffer"]
CMD ["serve"]
