#!/usr/bin/env bash
# The compose tests' prerequisites on a Debian machine, as root: Docker Engine and docker-compose 1.29
# (Debian's packages), dockerd started if none answers, and the local base image, made with
# debootstrap from the Debian mirror of this machine's apt sources (no image registry is needed).
# Idempotent; `make test` runs it (through `make compose-deps`).
set -euo pipefail
BASE_IMAGE=${TAGSTREAM_LOCAL_BASE:-tagstream-local/python:3.11-bookworm}

missing=""
for tool in dockerd:docker.io docker-compose:docker-compose debootstrap:debootstrap; do
    command -v "${tool%%:*}" >/dev/null || missing="$missing ${tool#*:}"
done
if [ -n "$missing" ]; then
    echo "installing$missing (apt)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
    echo "starting dockerd (log: /var/log/tagstream-dockerd.log)"
    nohup dockerd >/var/log/tagstream-dockerd.log 2>&1 &
    for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
    docker info >/dev/null 2>&1 || { echo "dockerd did not start: see /var/log/tagstream-dockerd.log" >&2; exit 1; }
fi

if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    # the first Debian mirror of the apt sources (deb822 `URIs:` or one-line `deb URL suite ...`)
    mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}')
    [ -n "$mirror" ] || mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
        | awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; exit}}')
    [ -n "$mirror" ] || { echo "no Debian mirror in /etc/apt/sources*: cannot debootstrap the base image" >&2; exit 1; }
    root=$(mktemp -d)
    trap 'rm -rf "$root"' EXIT
    echo "building $BASE_IMAGE: debootstrap bookworm from $mirror"
    debootstrap --variant=minbase --include=python3,python3-venv,python-is-python3,ca-certificates \
        bookworm "$root" "$mirror" >/dev/null
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    tar -C "$root" -c . | docker import --change 'ENV LANG=C.UTF-8' - "$BASE_IMAGE" >/dev/null
fi
echo "docker $(docker version --format '{{.Server.Version}}'), docker-compose $(docker-compose version --short), base $BASE_IMAGE"
