"""Pack an encoder directory to travel to a GPU machine in calls of at most 64 MiB: every 2-D float
weight as int8 with one fp32 scale per row (4x smaller; 1-D weights stay fp32), split in byte chunks
across several folders (one per call), with the tokenizer and config files in the first.

    python bench/gpu/pack_encoder.py --encoder all-mpnet-base-v2 --out .gpu/enc --chunks 3

It also reports how close the unpacked model is to the original: the cosine of mean-pooled
embeddings of catalogue titles (the unpacking is `bench/gpu/teacher_run.py`'s `unpack_encoder`)."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from tagstream.trainer.model import resolve_base_model

WEIGHTS = "model.safetensors"


def quantize(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {}
    for name, w in tensors.items():
        if w.is_floating_point() and w.ndim == 2:
            scale = w.abs().amax(dim=1, keepdim=True).clamp(min=1e-12) / 127.0
            out[f"{name}.int8"] = torch.round(w / scale).clamp(-127, 127).to(torch.int8)
            out[f"{name}.scale"] = scale.float()
        else:
            out[name] = w.contiguous()
    return out


def dequantize(packed: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {}
    for name, t in packed.items():
        if name.endswith(".int8"):
            base = name.removesuffix(".int8")
            out[base] = t.float() * packed[f"{base}.scale"]
        elif not name.endswith(".scale"):
            out[name] = t
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--encoder", default="all-mpnet-base-v2")
    ap.add_argument("--out", type=Path, default=Path(".gpu/enc"))
    ap.add_argument("--chunks", type=int, default=3)
    ap.add_argument("--check", type=Path, help="JSON lines with titles for the cosine check")
    args = ap.parse_args()
    src = Path(resolve_base_model(args.encoder))
    tensors = load_file(str(src / WEIGHTS))
    packed = quantize(tensors)
    work = args.out.parent / f"{args.out.name}-work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    blob = work / "weights.int8.safetensors"
    save_file(packed, str(blob))
    data = blob.read_bytes()
    step = len(data) // args.chunks + 1
    for i in range(args.chunks):
        part = Path(f"{args.out}-{i + 1}")
        shutil.rmtree(part, ignore_errors=True)
        part.mkdir(parents=True)
        (part / f"weights.part{i + 1:02d}").write_bytes(data[i * step : (i + 1) * step])
    first = Path(f"{args.out}-1")
    files = first / "files"
    files.mkdir()
    for f in src.iterdir():
        if f.is_file() and f.name != WEIGHTS and f.suffix in {".json", ".txt"}:
            shutil.copy(f, files / f.name)
    (first / "pack.json").write_text(json.dumps({"encoder": args.encoder, "chunks": args.chunks, "bytes": len(data)}))
    report = {
        "original_mb": round(sum(t.numel() * t.element_size() for t in tensors.values()) / 2**20, 1),
        "packed_mb": round(len(data) / 2**20, 1),
    }
    if args.check:
        from transformers import AutoModel, AutoTokenizer

        titles = [json.loads(line)["title"] for line in args.check.read_text().splitlines()[:256]]
        tok = AutoTokenizer.from_pretrained(src)
        enc = tok(titles, padding=True, truncation=True, max_length=64, return_tensors="pt")
        a = AutoModel.from_pretrained(src).eval()
        b = AutoModel.from_pretrained(src).eval()
        loaded = b.load_state_dict(dequantize(packed), strict=False)
        unexpected = [k for k in loaded.unexpected_keys if not k.endswith("position_ids")]  # a buffer
        assert not unexpected and not loaded.missing_keys, loaded
        with torch.inference_mode():
            m = enc["attention_mask"].unsqueeze(-1).float()
            pa = (a(**enc).last_hidden_state * m).sum(1) / m.sum(1)
            pb = (b(**enc).last_hidden_state * m).sum(1) / m.sum(1)
        cos = torch.nn.functional.cosine_similarity(pa, pb)
        report |= {
            "titles": len(titles),
            "cosine_min": round(float(cos.min()), 5),
            "cosine_mean": round(float(cos.mean()), 5),
        }
    shutil.rmtree(work)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
