"""The documentation users get stays in step with the code."""

import json
import re
from pathlib import Path

from bench.engine import table
from tagstream.stream.settings import ENV_PREFIX, WorkerSettings

ROOT = Path(__file__).resolve().parents[2]


def test_the_configuration_doc_lists_every_worker_setting():
    doc = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    missing = [
        f"{ENV_PREFIX}{n.upper()}" for n in WorkerSettings.model_fields if f"`{ENV_PREFIX}{n.upper()}`" not in doc
    ]
    assert not missing, f"docs/configuration.md does not document {missing}"


def test_the_readme_is_short_and_its_links_resolve():
    """README is the pitch, the two commands and links (at most 300 lines); every relative link of
    README and docs/ points to a file that exists."""
    readme = ROOT / "README.md"
    assert len(readme.read_text(encoding="utf-8").splitlines()) <= 300
    for doc in [readme, *(ROOT / "docs").glob("*.md")]:
        for target in re.findall(r"\]\(([^)\s#]+)(?:#[^)]*)?\)", doc.read_text(encoding="utf-8")):
            if not target.startswith(("http:", "https:", "mailto:")):
                assert (doc.parent / target).exists(), f"{doc.name} links to {target}, which does not exist"


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


def test_performance_numbers_are_the_committed_runs():
    """docs/performance.md "Results" shows the committed stream benchmark's tables as they are, and the
    capacity plan it states is the committed study's: regenerating results without the doc (or the
    other way round) fails here."""
    readme = (ROOT / "docs" / "performance.md").read_text(encoding="utf-8")
    results = ROOT / "bench" / "results"
    bench = json.loads((results / "stream_bench.json").read_text(encoding="utf-8"))
    for block in table(bench).strip().split("\n\n"):
        assert block in readme, f"docs/performance.md lacks the committed stream benchmark table:\n{block}"
    plan = json.loads((results / "capacity.json").read_text(encoding="utf-8"))["plan"]
    deployment = plan["deployment"]
    stated = (
        f"**{deployment['triton_instances']} CPU Triton instances (cores), {deployment['workers']} workers on "
        f"{deployment['partitions']} partitions, `tagstream backfill --rate {round(plan['backfill_rate'])}`**"
    )
    assert stated in " ".join(readme.split()), f"docs/performance.md does not state the committed plan: {stated}"


def test_performance_doc_shows_the_committed_forward_profile():
    """docs/performance.md's row for the committed bench/profile_forward.py run is that run."""
    doc = " ".join((ROOT / "docs" / "performance.md").read_text(encoding="utf-8").split())
    got = json.loads((ROOT / "bench" / "results" / "profile_forward.json").read_text(encoding="utf-8"))
    cpu, threads = got["cpu_ms_per_event"], got["profile"]["threads_pct"]
    row = (
        f"| 1 (committed) | {got['p_events_per_s']:,} | {got['raw_events_per_s']:,} | {got['p_over_raw']:.2f} | "
        f"{cpu['p: its main thread']:.3f} + {cpu['p: its consumer thread']:.3f} ms "
        f"({threads['MainThread']:.0f} % / {100 - threads['MainThread']:.0f} %) | {cpu['raw: loop']:.3f} ms | "
        f"{got['main_thread_over_raw_loop']:.1f} |"
    )
    assert row in doc, f"docs/performance.md lacks the committed forward profile:\n{row}"


def test_operations_doc_quotes_the_committed_capacity_study():
    """docs/operations.md's worker ceiling and backfill latencies are the committed study's (they
    once went stale: ~460 events/s and 36 min / 336 ms against the README's 322 and 33 min / 392 ms)."""
    doc = " ".join((ROOT / "docs" / "operations.md").read_text(encoding="utf-8").split())
    study = json.loads((ROOT / "bench" / "results" / "capacity.json").read_text(encoding="utf-8"))
    ceiling = round(study["plan"]["worker_ceiling_per_s"])
    runs = study["scenarios"]
    with_rate = round(runs["plan, backfill at --rate + live peak"]["result"]["live_p99_ms"])
    without = round(runs["plan, backfill without --rate + live peak"]["result"]["live_p99_ms"] / 60_000)
    assert f"{ceiling} events/s at the default 2" in doc
    assert f"live p99 {without} minutes without `--rate`, {with_rate} ms with it" in doc


def test_training_doc_shows_the_committed_methods_table():
    """docs/training.md's one-row-per-method table is `bench/methods_table.py`'s, from the committed
    results files: a number changed in either place alone fails here."""
    from bench.methods_table import table as methods_table

    doc = (ROOT / "docs" / "training.md").read_text(encoding="utf-8")
    assert methods_table() in doc, "docs/training.md lacks `python -m bench.methods_table`'s output"


def test_training_doc_shows_the_committed_long_listings_table():
    from bench.long_listings import table as budgets_table

    doc = (ROOT / "docs" / "training.md").read_text(encoding="utf-8")
    assert budgets_table() in doc, "docs/training.md lacks bench/long_listings.py's table of the committed results"
