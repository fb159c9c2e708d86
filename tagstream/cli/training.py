"""Commands of the training side: train, evaluate, predict, explain, spans, add-tag."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from tagstream.cli.options import with_model_options
from tagstream.core.errors import DataError
from tagstream.trainer.options import TrainOptions


def _existing_file(path: Path, what: str) -> Path:
    if path.is_dir():
        raise DataError(f"{path}: is a directory; {what} takes a JSON-lines file")
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    return path


def _existing_dir(path: Path, what: str, takes: str = "a model directory from `tagstream train`") -> Path:
    if not path.is_dir():
        raise DataError(f"{path}: no such directory; {what} takes {takes}")
    return path


def span_table(metrics: dict[str, dict[str, float]], title: str) -> str:
    lines = [f"{title}:", f"  {'key':<16} {'precision':>9} {'recall':>7} {'F1':>7} {'spans':>7}"]
    for key, m in metrics.items():
        lines.append(f"  {key[:16]:<16} {m['precision']:9.4f} {m['recall']:7.4f} {m['f1']:7.4f} {int(m['support']):7d}")
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    @app.command()
    @with_model_options(TrainOptions)
    def train(
        opts: TrainOptions,
        train: Path = typer.Option(..., "--train", help="training split (JSON lines)"),
        val: Path = typer.Option(..., "--val", help="validation split (JSON lines): early stopping and thresholds"),
        out: Path = typer.Option(..., "--out", help="artefact directory to write (replaced if it exists)"),
    ) -> None:
        """Fine-tune a pretrained encoder into a multi-label tagger."""
        train, val = _existing_file(train, "--train"), _existing_file(val, "--val")  # before torch's import (7 s)
        if opts.resume:
            _existing_dir(Path(opts.resume), "--resume", "the checkpoint directory of a stopped run (OUT.checkpoint)")
        from tagstream.trainer.checkpoint import CHECKPOINT_FILE, checkpoint_dir
        from tagstream.trainer.pipeline import run_training

        try:
            info = run_training(train, val, out, opts, echo=typer.echo)
        except KeyboardInterrupt:
            saved = sorted(checkpoint_dir(out).glob(f"**/{CHECKPOINT_FILE}"), key=lambda p: p.stat().st_mtime)
            if saved and saved[-1].parent == checkpoint_dir(out):
                typer.echo(f"stopped; continue with the same command and --resume {saved[-1].parent}", err=True)
            elif saved:  # --max-length auto: one run per budget (trainer.text_budget)
                budget = saved[-1].parent.name.removeprefix("max-length-")
                typer.echo(
                    f"stopped while trying --max-length {budget}; continue that budget alone with the same "
                    f"command, --max-length {budget} and --resume {saved[-1].parent}",
                    err=True,
                )
            raise
        m = info["validation"]["model"]
        typer.echo(
            f"saved {out}  (best epoch {info['best_epoch']}, {info['train_seconds']:.0f} s, "
            f"{info['trainable_params']:,} of {info['total_params']:,} parameters trained, "
            f"peak memory {info['peak_memory_mb']:.0f} MB)"
        )
        typer.echo(
            f"validation: micro-F1 {m['micro_f1']:.4f}  macro-F1 {m['macro_f1']:.4f}  samples-F1 {m['samples_f1']:.4f}"
        )
        for name, r in info["validation"]["references"].items():
            typer.echo(f"  {name:>9}: micro-F1 {r['micro_f1']:.4f}  macro-F1 {r['macro_f1']:.4f}")
        if "extraction" in info["validation"]:
            typer.echo(span_table(info["validation"]["extraction"], "validation attribute extraction"))

    @app.command()
    def evaluate(
        model: Path = typer.Option(..., "--model", help="artefact directory from `tagstream train`"),
        data: Path = typer.Option(..., "--data", help="labelled JSON lines (e.g. the test split)"),
        as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
        references: bool = typer.Option(True, "--references/--no-references", help="also score the reference models"),
        report_rows: int = typer.Option(
            30, min=0, help="rows of the per-tag report to print (most frequent first; 0: no report)"
        ),
    ) -> None:
        """Micro/macro/samples F1 with precision and recall, a per-tag report, and the reference points."""
        data = _existing_file(data, "--data")
        _existing_dir(model, "--model")
        from tagstream.trainer.evaluate import evaluate_model_dir
        from tagstream.trainer.label_noise import conflicts_line, error_table
        from tagstream.trainer.metrics import format_report

        res = evaluate_model_dir(model, data, references=references)
        if as_json:
            typer.echo(json.dumps(res, indent=1))
            return
        typer.echo(
            f"{res['data']}: {res['n_items']} items, {res['n_tags_present']} of {res['n_tags']} tags present; "
            f"{res['gold_tag_assignments_outside_vocabulary']} of {res['gold_tag_assignments']} gold tags are "
            "outside the vocabulary"
        )
        typer.echo(f"{'model':>14} {'micro-F1':>9} {'macro-F1':>9} {'samples-F1':>10} {'micro-P':>8} {'micro-R':>8}")
        served = f"blend w={res['blend_weight']:.1f}" if "blend_weight" in res else "fine-tuned"
        names = {"transformer": "fine-tuned"}  # a blended model's transformer alone
        rows = [(served, res), *((names.get(k, k), v) for k, v in res["references"].items())]
        for name, m in rows:
            typer.echo(
                f"{name:>14} {m['micro_f1']:9.4f} {m['macro_f1']:9.4f} {m['samples_f1']:10.4f} "
                f"{m['micro_precision']:8.4f} {m['micro_recall']:8.4f}"
            )
        if res.get("extraction"):
            typer.echo(span_table(res["extraction"], "attribute extraction (exact spans)"))
        noise = res["label_noise"]
        typer.echo("")
        typer.echo(conflicts_line(noise["conflicts"]))
        if noise["error_sources"]:
            typer.echo(error_table(noise["error_sources"]))
        if report_rows:
            typer.echo("")
            typer.echo(format_report(res["per_tag"], limit=report_rows))

    @app.command()
    def predict(
        model: Path = typer.Option(..., "--model", help="artefact directory from `tagstream train`"),
        inputs: list[str] = typer.Argument(..., help="texts, or a .jsonl file of catalogue rows"),
        as_json: bool = typer.Option(False, "--json", help="one JSON object per line"),
    ) -> None:
        """Print tags with scores for texts or for the rows of a JSONL file."""
        _existing_dir(model, "--model")
        from tagstream.trainer.data import load_dataset
        from tagstream.trainer.predict import LocalModel

        tagger = LocalModel(model)
        if len(inputs) == 1 and inputs[0].endswith(".jsonl"):
            ds = load_dataset(_existing_file(Path(inputs[0]), "predict"), require_tags=False)
            ids = [it.id or f"line-{i + 1}" for i, it in enumerate(ds.items)]
            texts = ds.texts
        else:
            ids, texts = [f"text-{i + 1}" for i in range(len(inputs))], inputs
        for ident, text, tags, found in zip(ids, texts, tagger.tags(texts), tagger.extract(texts), strict=True):
            if as_json:
                row = {"id": ident, "text": text, "tags": [{"tag": t, "score": round(s, 6)} for t, s in tags]}
                if tagger.extracts:
                    row["attributes"] = [e.as_dict() for e in found]
                typer.echo(json.dumps(row, ensure_ascii=False))
            else:
                typer.echo(f"{ident}: {text[:80]}")
                for t, s in tags:
                    typer.echo(f"    {s:.3f}  {t}")
                for e in found:
                    typer.echo(f"    {e.score:.3f}  {e.key} = {e.value!r}  (characters {e.start}-{e.end}, extracted)")

    @app.command()
    def explain(
        model: Path = typer.Option(..., "--model", help="artefact directory from `tagstream train`"),
        text: str = typer.Argument(..., help="a product text (title, brand, attributes, description)"),
        html_out: Path | None = typer.Option(None, "--html", help="also write an HTML page here"),
        top: int = typer.Option(5, "--top", min=1, help="words shown per tag in the terminal"),
    ) -> None:
        """Which words made each tag: word occlusion (the score a tag loses without each word)."""
        from tagstream.trainer.explain import explain as run
        from tagstream.trainer.explain import render_html, render_text
        from tagstream.trainer.predict import LocalModel

        e = run(LocalModel(model), text)
        typer.echo(render_text(e, top))
        if html_out:
            html_out.write_text(render_html(e), encoding="utf-8")
            typer.echo(f"wrote {html_out}")

    @app.command()
    def spans(
        data: Path = typer.Option(..., "--data", help="labelled JSON lines (e.g. the train split)"),
        as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
        show: int = typer.Option(5, "--show", min=0, help="example items to print with their spans"),
    ) -> None:
        """Which `key:value` tags are written in the text: per key, how many items carry it and in how
        many its value is found (the weak span labels that attribute extraction learns from)."""
        from tagstream.trainer.data import load_dataset
        from tagstream.trainer.spans import coverage, find_spans

        ds = load_dataset(_existing_file(data, "--data"))
        cov = coverage(ds.texts, ds.tag_lists)
        extractable = [c.key for c in cov if c.extractable]
        if as_json:
            rows = [{**c.__dict__, "share": c.share, "extractable": c.extractable} for c in cov]
            typer.echo(json.dumps({"data": str(data), "items": len(ds.items), "keys": rows}, indent=1))
            return
        typer.echo(f"{data}: {len(ds.items)} items")
        typer.echo(f"{'key':<20} {'items':>8} {'in text':>8} {'share':>6} {'values':>7}  extractable")
        for c in cov:
            typer.echo(
                f"{c.key[:20]:<20} {c.items:8d} {c.found:8d} {c.share:6.1%} {c.values:7d}  "
                + ("yes" if c.extractable else "no")
            )
        keys = set(extractable)
        shown = 0
        for text, tags in zip(ds.texts, ds.tag_lists, strict=True):
            if shown >= show or not keys:
                break
            found = find_spans(text, tags, keys)
            if found:
                typer.echo(
                    "  " + text[:100] + "  ->  " + ", ".join(f"{s.key}={text[s.start : s.end]!r}" for s in found)
                )
                shown += 1

    @app.command("add-tag")
    def add_tag_cmd(
        model: Path = typer.Option(..., "--model", help="artefact directory from `tagstream train`"),
        tag: str = typer.Option(..., "--tag", help="the new tag's name"),
        examples: Path = typer.Option(..., "--examples", help="JSON lines: a few products that have the tag"),
        negatives: Path = typer.Option(
            ...,
            "--negatives",
            help="JSON lines of products (e.g. the train split); those without the tag are the negatives",
        ),
        out: Path | None = typer.Option(None, "--out", help="model directory to write (default: replace --model)"),
        repo: Path | None = typer.Option(None, "--repo", help="also export the result as the next model version here"),
        seed: int = typer.Option(
            TrainOptions.model_fields["seed"].default, "--seed", help="random seed of the negatives' sample"
        ),
    ) -> None:
        """Add a tag from a few examples without retraining: one more head row and its threshold."""
        from tagstream.trainer.add_tag import add_tag

        added = add_tag(
            model,
            tag,
            _existing_file(examples, "--examples"),
            _existing_file(negatives, "--negatives"),
            out or model,
            seed=seed,
        )
        typer.echo(
            f"added {added.tag!r} from {added.positives} examples and {added.negatives} negatives: threshold "
            f"{added.threshold:.3f} (cross-validated F1 {added.cv_f1:.3f}); wrote {out or model}"
        )
        if repo:
            from tagstream.trainer.export import export_model

            version, path = export_model(out or model, repo)
            typer.echo(f"exported as version {version}: {path}")
