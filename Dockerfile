# gatehouse in a container: `make image`, then see README.md "Container".
# The database (and its secrets.key) live in the /data volume.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
# CGO for the SQLite driver, linked against the glibc of Debian 12, which
# the runtime image has too. /out/data becomes the volume's owner and mode.
RUN CGO_ENABLED=1 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/gatehouse . \
 && mkdir -m 0700 /out/data

# distroless: glibc and CA certificates, no shell, no package manager.
FROM gcr.io/distroless/base-debian12:nonroot
COPY --from=build /out/gatehouse /usr/local/bin/gatehouse
COPY --from=build --chown=65532:65532 /out/data /data
# The shipped config.yaml (every default); mount your own over it.
COPY config.yaml /etc/gatehouse/config.yaml
# The environment wins over the file: listen on every address of the
# container, keep the database in the volume.
ENV GATEHOUSE_CONFIG=/etc/gatehouse/config.yaml \
    GATEHOUSE_LISTEN=0.0.0.0:8080 \
    GATEHOUSE_DATABASE=/data/gatehouse.db
WORKDIR /data
VOLUME ["/data"]
USER nonroot:nonroot
EXPOSE 8080
# No curl here: gatehouse GETs its own /healthz (3 s timeout).
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["/usr/local/bin/gatehouse", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/gatehouse"]
CMD ["serve"]
