# Builds the single orderengine binary into a small image.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/orderengine ./cmd/orderengine && mkdir -p /out/data

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
