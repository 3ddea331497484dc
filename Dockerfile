# Ursa control plane. Build: docker build -t ursa-cp .   Run: docker run -p 5681:5681 ursa-cp
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY actors actors
COPY bench bench
COPY src src
COPY config config
RUN cargo build --release --locked --bin ursa-cp --bin ursa-dp \
 && strip target/release/ursa-cp target/release/ursa-dp

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --no-create-home ursa
COPY --from=build /src/target/release/ursa-cp /src/target/release/ursa-dp /usr/local/bin/
COPY config/ursa-cp.defaults.yaml /etc/ursa/ursa-cp.defaults.yaml
USER 10001
# 5681 HTTP API, 5682 bootstrap server, 5678 xDS (ADS) server.
EXPOSE 5681 5682 5678
ENTRYPOINT ["/usr/local/bin/ursa-cp"]
