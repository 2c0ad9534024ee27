# s2-lite container image: a release build in a Rust image, copied into a
# slim Debian runtime that runs as a non-root user.
#
#   podman build -t s2-lite .            (or docker build)
#   podman run -p 8080:8080 -v s2-data:/data s2-lite
#
# The default command keeps data in the /data volume; pass flags to change
# that (e.g. `--port 8080 --bucket NAME` with AWS_* variables for S3).

FROM docker.io/library/rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p lite-server \
    && install -m 0755 target/release/s2-lite /usr/local/bin/s2-lite

FROM docker.io/library/debian:bookworm-slim
# ca-certificates for S3 over HTTPS; curl for the health check.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /data --no-create-home s2lite \
    && mkdir -p /data \
    && chown s2lite:s2lite /data
COPY --from=build /usr/local/bin/s2-lite /usr/local/bin/s2-lite
USER 10001:10001
VOLUME ["/data"]
# Not 80: a non-root user cannot bind ports below 1024.
EXPOSE 8080
ENV RUST_LOG=info
# /health answers 503 once the store is fenced, closed or failed.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/health || exit 1
# SIGTERM closes storage cleanly (open requests get 10 s).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/s2-lite"]
CMD ["--port", "8080", "--local-root", "/data"]
