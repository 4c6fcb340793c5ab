# Multi-stage build of the signet server. The build stage runs the same
# command as CI and the README (`cargo build --release --locked`).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin signet

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --home-dir /var/lib/signet signet \
    && mkdir -p /var/lib/signet/data /var/lib/signet/keys \
    && chown -R signet:signet /var/lib/signet \
    && chmod 700 /var/lib/signet/keys
COPY --from=build /src/target/release/signet /usr/local/bin/signet
USER signet
WORKDIR /var/lib/signet
# The image listens on every interface, so Signet cannot guess its public URL:
# `docker run -e SIGNET_ISSUER=https://auth.example.com …` is required (the
# server refuses to start without it, naming SIGNET_ISSUER).
ENV SIGNET_LISTEN=0.0.0.0:8080 \
    SIGNET_DATABASE_URL=sqlite:///var/lib/signet/data/signet.db \
    SIGNET_KEYS_DIR=/var/lib/signet/keys
VOLUME ["/var/lib/signet/data", "/var/lib/signet/keys"]
EXPOSE 8080
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=6s --start-period=10s --retries=3 CMD ["/usr/local/bin/signet", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/signet"]
CMD ["serve"]
