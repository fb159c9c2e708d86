"""The Triton model repository's layout: `<repo>/<model>/config.pbtxt` and one integer directory per
version (`<repo>/<model>/1/`, `2/`, ...). A version is written to a hidden staging directory and
renamed into place only when complete, so a reader never sees half a version."""

from __future__ import annotations

from pathlib import Path

CONFIG_FILE = "config.pbtxt"


def model_versions(model_root: Path) -> list[int]:
    """The version numbers present under `model_root` (`<repo>/<model>`), ascending."""
    if not model_root.is_dir():
        return []
    return sorted(int(p.name) for p in model_root.iterdir() if p.is_dir() and p.name.isdigit() and int(p.name) > 0)
