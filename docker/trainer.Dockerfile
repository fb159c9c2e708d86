# syntax=docker/dockerfile:1
# The trainer (train, evaluate, export, publish): torch from the CPU index, so that pip never pulls a
# multi-GB CUDA build into an image that trains on CPU. Runs as a non-root user.
ARG PYTHON_IMAGE=python:3.11.10-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir torch==2.4.1 --index-url https://download.pytorch.org/whl/cpu
COPY pyproject.toml README.md ./
COPY tagstream tagstream
COPY stream stream
COPY trainer trainer
RUN /opt/venv/bin/pip install --no-cache-dir ".[train,serve]"

FROM ${PYTHON_IMAGE}
RUN useradd --system --uid 10001 --create-home --home-dir /app tagstream
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
USER tagstream
WORKDIR /app
ENTRYPOINT ["tagstream"]
CMD ["--help"]
