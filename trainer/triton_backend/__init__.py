"""The Triton python-backend model (`model.py`), copied into every exported version directory, and
the numpy TF-IDF blend (`tfidf_blend.py`) copied next to it into a version that blends."""

from pathlib import Path

MODEL_PY = Path(__file__).with_name("model.py")
TFIDF_BLEND_PY = Path(__file__).with_name("tfidf_blend.py")
