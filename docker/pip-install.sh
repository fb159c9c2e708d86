#!/bin/sh
# pip install into /opt/venv, in a Docker build stage. PIP_CA_BUNDLE (a build argument: PEM text) holds
# the CA certificates of a TLS-intercepting proxy; they are added to the image's own CA bundle in a
# temporary file for this one command and removed, so no layer keeps them.
set -eu
if [ -n "${PIP_CA_BUNDLE:-}" ]; then
    ca=$(mktemp)
    trap 'rm -f "$ca"' EXIT
    cat /etc/ssl/certs/ca-certificates.crt > "$ca" 2>/dev/null || true
    printf '%s\n' "$PIP_CA_BUNDLE" >> "$ca"
    export PIP_CERT="$ca"
fi
/opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check "$@"
