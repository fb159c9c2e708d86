"""The Triton python-backend model (`model.py`), copied into every exported version directory."""

from pathlib import Path

MODEL_PY = Path(__file__).with_name("model.py")
