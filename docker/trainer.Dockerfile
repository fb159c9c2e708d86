# The trainer (train, evaluate, export, publish): torch from the CPU index, so that pip never pulls a
# multi-GB CUDA build into an image that trains on CPU. No tritonserver (it never serves). Runs as a
# non-root user that owns /runs and /models, where the named volumes of docker-compose.yml mount.
#
# Build arguments (production defaults; the compose tests set them for a machine without a registry):
#   PYTHON_IMAGE     the Python 3.11 base image
#   TORCH_VERSION    the torch release; torch.onnx.export(dynamo=True) needs >= 2.5
#   TORCH_INDEX_URL  where torch comes from; empty: the wheel in docker/wheels/ (its dependencies from PyPI)
#   PIP_CA_BUNDLE    PEM text of the CA certificates of a TLS-intercepting proxy, for pip; used
#                    in the build stage only, never copied into the image that runs
ARG PYTHON_IMAGE=python:3.11.10-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG PIP_CA_BUNDLE=""
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
WORKDIR /src
COPY docker/pip-install.sh /usr/local/bin/pip-install
COPY docker/wheels/ /wheels/
RUN python -m venv /opt/venv \
 && if [ -n "$TORCH_INDEX_URL" ]; then pip-install "torch==$TORCH_VERSION" --index-url "$TORCH_INDEX_URL"; \
    else pip-install "torch==$TORCH_VERSION" --find-links /wheels; fi
COPY pyproject.toml README.md ./
COPY tagstream tagstream
COPY stream stream
COPY trainer trainer
COPY examples examples
# torch is installed: `torch>=2.3` in [train] is met and pip fetches no other build
RUN pip-install ".[train]" "torch==$TORCH_VERSION"

FROM ${PYTHON_IMAGE}
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /app tagstream \
 && mkdir -p /runs /models && chown tagstream:tagstream /runs /models
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
USER tagstream
WORKDIR /app
ENTRYPOINT ["tagstream"]
CMD ["--help"]
