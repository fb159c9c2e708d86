# syntax=docker/dockerfile:1
# The streaming worker. It installs the `worker` role only: no torch, transformers or onnx (the model
# runs in Triton). Runs as a non-root user.
ARG PYTHON_IMAGE=python:3.11.10-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
RUN python -m venv /opt/venv
COPY pyproject.toml README.md ./
COPY tagstream tagstream
COPY stream stream
COPY trainer trainer
RUN /opt/venv/bin/pip install --no-cache-dir ".[worker]"

FROM ${PYTHON_IMAGE}
RUN useradd --system --uid 10001 --create-home --home-dir /app tagstream
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 TAGSTREAM_WEB_HOST=0.0.0.0
USER tagstream
WORKDIR /app
EXPOSE 6066
HEALTHCHECK --interval=15s --timeout=5s --retries=4 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:6066/healthz', timeout=3)"]
ENTRYPOINT ["tagstream"]
CMD ["worker"]
