# Stand-in for nvcr.io/nvidia/tritonserver (no registry here): the real tritonserver binary and python
# backend from the nvidia-pytriton wheel, on CPU, with what the product_tagger model imports (torch
# CPU, transformers, safetensors, onnxruntime). `tritonserver` on PATH takes the production file's
# command line; the backends are where the official image keeps them. Runs as triton-server (uid
# 1000), like the official image; /models belongs to uid 10001, as in docker/triton.Dockerfile.
ARG PYTHON_IMAGE
FROM ${PYTHON_IMAGE}
ARG PIP_CA_BUNDLE=""
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libpython3.11 curl \
 && rm -rf /var/lib/apt/lists/*
COPY docker/pip-install.sh /usr/local/bin/pip-install
COPY docker/wheels/ /wheels/
# One virtual environment, put first on the stub's sys.path by PYTHONPATH (the embedded interpreter of
# the python backend's stub does not read a venv's pyvenv.cfg).
RUN python -m venv /opt/venv \
 && if [ -n "$TORCH_INDEX_URL" ]; then pip-install "torch==$TORCH_VERSION" --index-url "$TORCH_INDEX_URL"; \
    else pip-install "torch==$TORCH_VERSION" --find-links /wheels; fi \
 && pip-install "nvidia-pytriton==0.7.0" "transformers>=4.45,<6" "tokenizers>=0.19" "safetensors>=0.4" "numpy<2" "onnxruntime>=1.17" \
    "torch==$TORCH_VERSION" \
 && rm -rf /wheels
RUN set -e; pt=$(/opt/venv/bin/python -c 'import pytriton, pathlib; print(pathlib.Path(pytriton.__file__).parent / "tritonserver")'); \
    mkdir -p /opt/tritonserver/backends/python; \
    cp "$pt"/backends/python/*.so "$pt"/backends/python/*.py /opt/tritonserver/backends/python/; \
    cp "$pt"/python_backend_stubs/3.11/triton_python_backend_stub /opt/tritonserver/backends/python/; \
    libs=$(/opt/venv/bin/python -c 'import pytriton.utils.distribution as d; print(d.get_libs_path())'); \
    printf '#!/bin/sh\nexport LD_LIBRARY_PATH=%s${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}\nexec %s/bin/tritonserver --backend-directory=/opt/tritonserver/backends "$@"\n' \
        "$libs" "$pt" > /usr/local/bin/tritonserver; \
    chmod +x /usr/local/bin/tritonserver; \
    useradd --uid 1000 --create-home triton-server; \
    mkdir -p /models && chown 10001:10001 /models
ENV PATH=/opt/venv/bin:$PATH PYTHONPATH=/opt/venv/lib/python3.11/site-packages HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
USER triton-server
