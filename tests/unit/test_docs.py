"""The documentation users get stays in step with the code."""

from pathlib import Path

from tagstream.stream.settings import ENV_PREFIX, WorkerSettings

ROOT = Path(__file__).resolve().parents[2]


def test_readme_lists_every_worker_setting():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [
        f"{ENV_PREFIX}{n.upper()}" for n in WorkerSettings.model_fields if f"`{ENV_PREFIX}{n.upper()}`" not in readme
    ]
    assert not missing, f"README does not document {missing}"


def test_code_cites_no_document_outside_the_repository():
    for folder in ("tagstream", "stream", "trainer"):
        for path in (ROOT / folder).rglob("*.py"):
            assert "DESIGN.md" not in path.read_text(encoding="utf-8"), path


def test_docs_the_code_points_to_exist():
    for folder in ("tagstream", "stream", "trainer"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            for doc in ("docs/architecture.md", "docs/operations.md"):
                if doc in text:
                    assert (ROOT / doc).is_file(), f"{path} cites {doc}"
