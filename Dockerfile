# syntax=docker/dockerfile:1
# Multi-stage build: a static binary on a distroless base, running as a
# non-root user, with /data as the volume for the bbolt file.
#
#   docker build --build-arg VERSION=$(git describe --tags --always) \
#     --build-arg COMMIT=$(git rev-parse --short HEAD) \
#     --build-arg BUILT=$(date -u +%Y-%m-%dT%H:%M:%SZ) -t supportbot .

# slack-go v0.35.0 needs Go 1.26.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=none
ARG BUILT=unknown
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT} -X main.built=${BUILT}" \
      -o /out/supportbot ./cmd/supportbot \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot AS run
COPY --from=build /out/supportbot /supportbot
# The volume's mount point must belong to the user, so bbolt can create its file.
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
WORKDIR /data
VOLUME /data
ENV ADDR=:8080 STORE=bolt:/data/supportbot.db LOG_FORMAT=json
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s CMD ["/supportbot", "healthcheck"]
ENTRYPOINT ["/supportbot"]
