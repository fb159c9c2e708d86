# The streaming worker. It installs the `worker` role only: no torch, transformers or onnx (the model
# runs in Triton). Runs as a non-root user.
#
# Build arguments (production defaults; the compose tests set them for a machine without a registry):
#   PYTHON_IMAGE   the Python 3.11 base image
#   PIP_CA_BUNDLE  PEM text of the CA certificates of a TLS-intercepting proxy, for pip; used in
#                  the build stage only, never copied into the image that runs
ARG PYTHON_IMAGE=python:3.11.10-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG PIP_CA_BUNDLE=""
WORKDIR /src
COPY docker/pip-install.sh /usr/local/bin/pip-install
RUN python -m venv /opt/venv
COPY pyproject.toml README.md ./
COPY tagstream tagstream
COPY stream stream
COPY trainer trainer
COPY examples examples
RUN pip-install ".[worker]"

FROM ${PYTHON_IMAGE}
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /app tagstream
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 TAGSTREAM_WEB_HOST=0.0.0.0
USER tagstream
WORKDIR /app
EXPOSE 6066
# the port follows TAGSTREAM_WEB_PORT, as the worker's does
HEALTHCHECK --interval=15s --timeout=5s --retries=4 CMD ["tagstream", "healthcheck"]
ENTRYPOINT ["tagstream"]
CMD ["worker"]
