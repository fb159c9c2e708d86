"""An exported version is readable by a server running as another user (Triton's, in its container)."""

import stat

import torch
from safetensors.torch import save_file

from tagstream.trainer.export import readable_by_all


def test_every_file_and_directory_of_a_version_is_readable_by_all(tmp_path):
    version = tmp_path / "staging"
    (version / "encoder").mkdir(parents=True)
    save_file({"w": torch.zeros(2)}, str(version / "encoder" / "model.safetensors"))
    (version / "labels.json").write_text("{}")
    version.chmod(0o700)  # as mkdtemp makes it
    (version / "encoder" / "model.safetensors").chmod(0o600)  # as safetensors may write it
    readable_by_all(version)
    for path in [version, *version.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o755 if path.is_dir() else 0o644), (path, oct(mode))
