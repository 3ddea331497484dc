# Ursa control plane. Build: docker build -t ursa-cp .   Run: docker run -p 5681:5681 ursa-cp
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY actors actors
COPY wire wire
COPY dp dp
COPY cli cli
COPY bench bench
COPY src src
COPY config config
COPY README.md README.md
RUN cargo build --release --locked -p ursa-cp -p ursa-dp -p ursactl \
 && strip target/release/ursa-cp target/release/ursa-dp target/release/ursactl

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --no-create-home ursa
COPY --from=build /src/target/release/ursa-cp /src/target/release/ursa-dp /src/target/release/ursactl /usr/local/bin/
COPY config/ursa-cp.defaults.yaml /etc/ursa/ursa-cp.defaults.yaml
USER 10001
# 5681 HTTP API, 5682 bootstrap server, 5678 xDS (ADS) server, 5680 diagnostics (metrics).
EXPOSE 5681 5682 5678 5680
ENTRYPOINT ["/usr/local/bin/ursa-cp"]
