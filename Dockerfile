# Builds the single orderengine binary into a small image.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The version orderengine reports: --build-arg VERSION (make docker passes git describe),
# else git describe of the copied checkout, else "dev".
ARG VERSION=
RUN v="${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}" && \
	CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags "-s -w -X main.version=$v" -o /out/orderengine ./cmd/orderengine && \
	mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/orderengine /usr/local/bin/orderengine
# The data dir belongs to the nonroot user, so a fresh named volume mounted there does too.
COPY --from=build --chown=65532:65532 /out/data /var/lib/orderengine
WORKDIR /var/lib/orderengine
ENV ORDERENGINE_DATA_DIR=/var/lib/orderengine
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --retries=5 CMD ["/usr/local/bin/orderengine", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/orderengine"]
CMD ["serve"]
