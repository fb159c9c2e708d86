"""One row per tagging method, per catalogue, from the committed results: test micro/macro-F1, the
error cut against the same run's TF-IDF reference, training time and where, and served events/s.

Quality comes from the runs that measured it (each row names its run; they differ in hardware and
data size, so compare a row with its own TF-IDF reference, not across runs):
- blend_full.json: the served default (MiniLM with its TF-IDF blend and tag tree, as `tagstream
  train` makes it), the fine-tuned MiniLM alone, head-only and TF-IDF, all from one run per
  catalogue on the full splits, CPU (`python -m bench.blend_run` on `tagstream train`'s output);
- teacher_run.json, distill_run.json: mpnet, and a MiniLM student with and without the mpnet teacher,
  full splits, on a lent GPU.

Served events/s comes from one stream benchmark (`methods_stream.json`: point b, end to end, with
each method's network side by side in the same rounds; head-only and the distilled student run the
same network as MiniLM, so they serve at its rate).

    python -m bench.methods_table [--results bench/results]    # prints the markdown table
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from bench.quality import error_cut

RESULTS = Path(__file__).resolve().parent / "results"


def _load(results: Path, name: str) -> dict[str, Any]:
    return json.loads((results / f"{name}.json").read_text(encoding="utf-8"))


def _cut(m: dict[str, float], ref: dict[str, float]) -> str:
    cuts = [100 * error_cut(m[k], ref[k]) for k in ("micro_f1", "macro_f1")]
    return " / ".join(f"{c:.1f} %" for c in cuts)


def _f1(m: dict[str, float]) -> str:
    return f"{m['micro_f1']:.4f} / {m['macro_f1']:.4f}"


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 600 else f"{seconds:.0f} s"


def _row(
    catalogue: str, method: str, run: str, m: dict | None, ref: dict | None, seconds: str, served: str
) -> tuple[str, ...]:
    if m is None:
        return (catalogue, method, run, "", "", seconds, served)
    cut = "(reference)" if ref is None else _cut(m, ref)
    return (catalogue, method, run, _f1(m), cut, seconds, served)


def rows(results: Path) -> list[tuple[str, ...]]:
    """(catalogue, method, run, test micro / macro, error cut, training time, served events/s)."""
    teacher = _load(results, "teacher_run")["datasets"]
    distilled = _load(results, "distill_run")
    full = _load(results, "blend_full")
    eps = _load(results, "methods_stream")["events_per_s"]
    minilm, mpnet, blended = (f"{eps[k]:,.0f}" for k in ("b_unblended", "b_mpnet", "b"))
    cpu, gpu = "full splits, CPU", "full splits, H200"
    out: list[tuple[str, ...]] = []
    for name in ("flipkart", "myntra"):
        f = full["runs"][name]
        ref, refs_time = f["test"]["tfidf"], f["reference_train_seconds"]
        train_time = _minutes(f["train_seconds"])
        blend = f["blend"]
        served = (
            f"served default: MiniLM + TF-IDF blend (w = {blend['weight']})"
            if blend["served"]
            else "served default: MiniLM (the blend did not pay on validation)"
        )
        out.append(_row(name, served, cpu, f["test"]["served"], ref, f"{train_time}, + {f['choose_seconds']:.0f} s (w)",
                        blended if blend["served"] else minilm))  # fmt: skip
        if blend["served"]:
            out.append(_row(name, "fine-tuned MiniLM-L6 alone", cpu, f["test"]["fine-tuned"], ref, train_time, minilm))
        else:  # what the blend would have scored
            out.append(_row(name, f"MiniLM + TF-IDF blend (w = {blend['weight']}), not served", cpu, f["test"]["blend"],
                            ref, train_time, blended))  # fmt: skip
        t = teacher[name]
        out.append(_row(name, "fine-tuned mpnet-base", gpu, t["test"], t["test_references"]["tfidf"],
                        _minutes(t["train_seconds"]), mpnet))  # fmt: skip
        d = distilled["datasets"].get(name)
        student = f"MiniLM student, mpnet teacher (weight {distilled['teacher_weight']})"
        if d is None:
            out.append(_row(name, student, "not run", None, None, "", minilm))
        else:
            gpu_ref = d["test_references"]["tfidf"]
            out.append(_row(name, "MiniLM student, no teacher", gpu, d["student"]["test"], gpu_ref,
                            _minutes(d["student"]["train_seconds"]), minilm))  # fmt: skip
            out.append(_row(name, student, gpu, d["distilled student"]["test"], gpu_ref,
                            _minutes(d["distilled student"]["train_seconds"]), minilm))  # fmt: skip
        out.append(_row(name, "TF-IDF + one-vs-rest LR", cpu, ref, None, _minutes(refs_time["tfidf"]),
                        "not served alone"))  # fmt: skip
        out.append(_row(name, "head-only (frozen MiniLM)", cpu, f["test"]["head_only"], ref,
                        _minutes(refs_time["head_only"]), minilm))  # fmt: skip
    return out


def table(results: Path = RESULTS) -> str:
    lines = [
        "| catalogue | method | run | test micro / macro-F1 | error cut vs the run's TF-IDF, micro / macro | "
        "training time | served events/s (b) |",
        "|---|---|---|---|---|---|---|",
    ]
    last = ""
    for r in rows(results):
        lines.append("| " + " | ".join((r[0] if r[0] != last else "", *r[1:])) + " |")
        last = r[0]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, default=RESULTS)
    print(table(ap.parse_args().results))


if __name__ == "__main__":
    main()
