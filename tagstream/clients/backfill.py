"""Re-tag a whole catalogue after a model refresh (`tagstream backfill`): every product of a catalogue
file becomes an upsert event on the input topic, rate-limited, and the workers tag it like any other.

Resumable: a state file records how many of the file's events the broker has acknowledged (written
atomically every `checkpoint_every` events); run the same command again after a crash and it goes on
from there. Events sent but not acknowledged before the crash are sent again: tag events are
idempotent, so a product is at worst tagged twice.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from itertools import islice
from pathlib import Path

from tagstream.clients.producer import catalogue_events, produce
from tagstream.core.errors import DataError
from tagstream.stream.kafka import PLAINTEXT, KafkaConnection


@dataclass
class BackfillState:
    file: str
    size: int  # the file's size when the backfill started: a changed file starts over
    total: int  # events in the file
    acked: int = 0  # events the broker acknowledged, in file order

    @property
    def done(self) -> bool:
        return self.acked >= self.total


def default_state_path(file: Path) -> Path:
    return file.with_name(file.name + ".backfill.json")


def _load_state(path: Path, file: Path) -> BackfillState | None:
    try:
        state = BackfillState(**json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (ValueError, TypeError) as e:
        raise DataError(f"{path}: not a backfill state file ({e}); remove it or pass --restart") from None
    if state.file != str(file.resolve()) or state.size != file.stat().st_size:
        raise DataError(f"{path} belongs to another file or {file} changed since; pass --restart to start over")
    return state


def _save_state(path: Path, state: BackfillState) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(asdict(state)), encoding="utf-8")
    os.replace(tmp, path)


def backfill(
    broker_url: str,
    topic: str,
    file: Path,
    *,
    state_path: Path | None = None,
    restart: bool = False,
    rate: float | None = None,
    checkpoint_every: int = 500,
    connection: KafkaConnection = PLAINTEXT,
    progress: Callable[[int, int], object] | None = None,
) -> BackfillState:
    """Send the file's events after the acknowledged ones; returns the final state.
    `progress(acked, total)` is called at every checkpoint."""
    if not file.is_file():
        raise DataError(f"{file}: no such file")
    state_path = state_path or default_state_path(file)
    state = None if restart else _load_state(state_path, file)
    if state is None:
        total = sum(1 for _ in catalogue_events(file))
        if total == 0:
            raise DataError(f"{file}: no product to send")
        state = BackfillState(str(file.resolve()), file.stat().st_size, total)
        _save_state(state_path, state)
    if state.done:
        return state
    start = state.acked

    def acked(n: int) -> None:
        state.acked = start + n
        _save_state(state_path, state)
        if progress:
            progress(state.acked, state.total)

    events = islice(catalogue_events(file), start, None)
    asyncio.run(
        produce(broker_url, topic, events, rate, connection=connection, acked=acked, flush_every=checkpoint_every)
    )
    return state
