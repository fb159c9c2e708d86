"""Rebuild the sample catalogue (examples/catalogue.{train,val,test}.jsonl) from the shared data's
fixed splits, keeping the sample's product ids: each row is replaced by the row with the same id in
DATA/<dataset>.<split>.jsonl (so a change to the data, such as myntra's facets becoming tags only,
reaches the sample without re-drawing it).

    python examples/make_sample.py ../shared/data
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(data: Path) -> None:
    for split in ("train", "val", "test"):
        path = HERE / f"catalogue.{split}.jsonl"
        ids = [json.loads(line)["id"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        rows: dict[str, str] = {}
        for dataset in ("flipkart", "myntra"):
            for line in (data / f"{dataset}.{split}.jsonl").read_text(encoding="utf-8").splitlines():
                if line.strip():
                    rows.setdefault(json.loads(line)["id"], line)
        missing = [i for i in ids if i not in rows]
        if missing:
            sys.exit(f"{path.name}: {len(missing)} ids are not in {data} (first: {missing[0]})")
        path.write_text("\n".join(rows[i] for i in ids) + "\n", encoding="utf-8")
        print(f"{path.name}: {len(ids)} rows")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data"))
