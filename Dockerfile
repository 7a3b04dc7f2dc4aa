# Vigia's container image: a static binary on distroless, running as the
# non-root user 65532, with the detections and runbooks it ships.
#
#   docker build -t vigia .
#   docker run --rm -v "$PWD/vigia.yaml:/etc/vigia/vigia.yaml:ro" --read-only vigia
#
# Both bases are pinned by digest (the tag stays for the reader; the digest is
# what gets pulled), so a rebuild of an old commit uses the same bases. To
# move to newer bases, resolve the tags again and replace both digests:
#   crane digest golang:1.26.8-bookworm
#   crane digest gcr.io/distroless/static-debian12:nonroot
# deploy/deploy_test.go checks that every FROM stays pinned.

# ---- build: the static binary ----------------------------------------------
# The builder's Go release matches the go line of go.mod, so no toolchain is
# downloaded during the build.
FROM golang:1.26.8-bookworm@sha256:dc9ad6c05acc7a88e5b71bde60a5fe3bd4b9f0db209011711b464107438a8107 AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-mod=readonly GOTOOLCHAIN=local
# Modules first, in their own layer, so a source edit does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY cmd/ cmd/
COPY internal/ internal/
ARG VERSION=dev
RUN go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" -o /out/vigia ./cmd/vigia \
 && mkdir -p /out/var/lib/vigia

# ---- final: no shell, no package manager, uid/gid 65532 ---------------------
FROM gcr.io/distroless/static-debian12:nonroot@sha256:afa5c872c891853ca7fcf1f12c3edb23f7eeef36189728842dd51042ff57f7ab
COPY --from=build /out/vigia /vigia
# Rules and runbooks, read-only to the process (owned by root). A config sets
#   rules: {paths: [/etc/vigia/detections], runbook_root: /etc/vigia}
COPY detections/ /etc/vigia/detections/
COPY runbooks/ /etc/vigia/runbooks/
# The durable delivery queue lives here; mount a volume over it (an emptyDir
# on Kubernetes). Owned by 65532 so a fresh named volume inherits the owner.
COPY --from=build --chown=65532:65532 /out/var/lib/vigia /var/lib/vigia
USER 65532:65532
# Metrics, /healthz and /readyz (telemetry.listen) and vigia ingest.
EXPOSE 9464 8443
ENTRYPOINT ["/vigia"]
CMD ["run", "--config", "/etc/vigia/vigia.yaml"]
