from tagstream.core.repository import model_versions


def test_model_versions_are_integer_directories(tmp_path):
    root = tmp_path / "m"
    assert model_versions(root) == []
    for name in ("2", "10", "1", ".staging-abc", "0", "x"):
        (root / name).mkdir(parents=True)
    (root / "3").write_text("a file, not a version")
    assert model_versions(root) == [1, 2, 10]
