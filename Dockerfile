# syntax=docker/dockerfile:1
# smokegate in a small image: the static (musl) binary on a distroless base that brings CA
# certificates and a non-root user, and nothing else (no shell, no package manager).
#   docker build -t smokegate .
#   docker run --rm -e GATEWAY_BASE_URL=https://gateway.example.com -v "$PWD/smoke-suites:/suites:ro" smokegate
FROM rust:1-alpine AS build
RUN apk add --no-cache build-base
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin smokegate && strip target/release/smokegate

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /src/target/release/smokegate /usr/local/bin/smokegate
# The journal (what a run created, for `smokegate cleanup`) lives in the non-root user's home;
# mount a volume there to keep it across pods.
ENV XDG_STATE_HOME=/home/nonroot/.local/state
WORKDIR /home/nonroot
ENTRYPOINT ["/usr/local/bin/smokegate"]
CMD ["run", "/suites", "--wait-ready", "2m"]
