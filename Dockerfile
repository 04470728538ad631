# syntax=docker/dockerfile:1
#
# depportal container image: a static Go binary on distroless "static" (CA certificates, tzdata,
# /etc/passwd with nonroot = 65532, nothing else: no shell, no package manager).
#
#   docker build --build-arg VERSION=$(git describe --tags --always --dirty) \
#                --build-arg COMMIT=$(git rev-parse HEAD) -t depportal .
#
# scripts/build-release.sh runs the same `go build` outside Docker (same environment, flags and
# ldflags); deploy/deploy_test.go fails when the two drift apart. Change both together.
# For reproducible images, pin both FROM lines by digest (image@sha256:…).

FROM --platform=$BUILDPLATFORM golang:1.26-bookworm AS build
# Set by BuildKit to the platform being built (docker buildx build --platform linux/arm64 …).
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
ARG COMMIT=unknown
WORKDIR /src

# Modules first: this layer is reused until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN go mod download && go mod verify

COPY . .
# The build cache is mounted (BuildKit), the module cache is the layer above: do not mount over it.
RUN --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} go build -tags nosandbox -trimpath -buildvcs=false -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" -o /out/depportal .

# The data folder must exist and belong to nonroot: the final stage has no shell to create it.
# Copying the folder's parent (below) keeps its own mode, 0700, as well as its contents.
RUN install -d -m 0700 /out/rootfs/data

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
ARG COMMIT=unknown
LABEL org.opencontainers.image.title="depportal" \
      org.opencontainers.image.description="Self-service, audited renewal of the Apple ADE server token in Microsoft Intune, signed in with Entra ID" \
      org.opencontainers.image.source="https://github.com/depportal/depportal" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.opencontainers.image.licenses="NOASSERTION"

COPY --from=build /out/depportal /depportal
COPY --from=build --chown=65532:65532 /out/rootfs/ /

# SQLite database and sandbox keys. With PostgreSQL (DEPPORTAL_DATABASE_URL=postgres://…) in
# tenant mode it may stay empty.
ENV DEPPORTAL_DATA_DIR=/data
VOLUME /data

EXPOSE 8080
# nonroot, by number: Kubernetes' runAsNonRoot can only verify a numeric user.
USER 65532:65532
# `depportal healthcheck` GETs http://127.0.0.1:<port of DEPPORTAL_LISTEN>/healthz: no curl needed.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 CMD ["/depportal", "healthcheck"]
ENTRYPOINT ["/depportal"]
