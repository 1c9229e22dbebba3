# Builds the single orderengine binary into a small image.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/orderengine ./cmd/orderengine

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/orderengine /usr/local/bin/orderengine
WORKDIR /var/lib/orderengine
ENV ORDERENGINE_DATA_DIR=/var/lib/orderengine
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --retries=5 CMD ["/usr/local/bin/orderengine", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/orderengine"]
CMD ["serve"]
