# syntax=docker/dockerfile:1
# Triton with what tagstream's python-backend model imports. The official image's python backend has
# no torch; install versions built for this image (Triton 24.08: CUDA 12.6, Python 3.10): torch 2.4.1
# (CUDA 12.4 wheels for TARGET=gpu, they run on the 12.6 driver; CPU wheels otherwise), onnxruntime
# 1.19.2 (onnxruntime-gpu on GPU), and pinned transformers, tokenizers, safetensors and numpy.
# On a KIND_GPU instance that cannot use CUDA, the model refuses to load (it does not fall back to CPU).
ARG TRITON_IMAGE=nvcr.io/nvidia/tritonserver:24.08-py3
FROM ${TRITON_IMAGE}
ARG TARGET=cpu
RUN set -e; \
    if [ "$TARGET" = gpu ]; then torch_index=https://download.pytorch.org/whl/cu124; ort=onnxruntime-gpu==1.19.2; \
    else torch_index=https://download.pytorch.org/whl/cpu; ort=onnxruntime==1.19.2; fi; \
    pip install --no-cache-dir torch==2.4.1 --index-url "$torch_index"; \
    pip install --no-cache-dir "$ort" transformers==4.44.2 tokenizers==0.19.1 safetensors==0.4.5 numpy==1.26.4
# /models belongs to uid 10001, the trainer image's user: a new named volume mounted there takes this
# owner, so the trainer can write versions into the volume Triton serves (Triton only reads them).
RUN mkdir -p /models && chown 10001:10001 /models
USER triton-server
