# Triton with what tagstream's python-backend model imports (torch, transformers, onnxruntime).
# The official image's python backend has no torch; install it into the image's Python.
ARG TRITON_IMAGE=nvcr.io/nvidia/tritonserver:24.08-py3
FROM ${TRITON_IMAGE}
RUN pip install --no-cache-dir "torch>=2.3" "transformers>=4.45,<6" safetensors "onnxruntime-gpu>=1.17" numpy
