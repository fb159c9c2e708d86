"""The documentation users get stays in step with the code."""

import json
from pathlib import Path

from tagstream.benchmark import table
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


def test_readme_performance_numbers_are_the_committed_runs():
    """README "Performance" shows the committed stream benchmark's tables as they are, and the
    capacity plan it states is the committed study's: regenerating results without the README (or
    the other way round) fails here."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    results = ROOT / "bench" / "results"
    bench = json.loads((results / "stream_bench.json").read_text(encoding="utf-8"))
    for block in table(bench).strip().split("\n\n"):
        assert block in readme, f"README lacks the committed stream benchmark table:\n{block}"
    plan = json.loads((results / "capacity.json").read_text(encoding="utf-8"))["plan"]
    deployment = plan["deployment"]
    stated = (
        f"**{deployment['triton_instances']} CPU Triton instances (cores), {deployment['workers']} workers on "
        f"{deployment['partitions']} partitions, `tagstream backfill --rate {round(plan['backfill_rate'])}`**"
    )
    assert stated in " ".join(readme.split()), f"README does not state the committed capacity plan: {stated}"
