"""Consumer lag per assigned partition, for the `tagstream_consumer_lag` gauge: the partition's high
watermark (kept current by fetches) minus the next offset to process (what this worker finished, else
the committed offset). Known from the partition's first fetch on, also when no batch ever succeeded."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from faust.types import TP
from prometheus_client import Gauge

from tagstream.stream.records import Record


class ConsumerLag:
    def __init__(self, gauge: Gauge):
        self.gauge = gauge
        self._positions: dict[TP, int] = {}  # next offset to process, per assigned partition

    def finished(self, records: Iterable[Record]) -> None:
        """Records whose results were published and acked."""
        for r in records:
            tp = TP(r.topic, r.partition)
            self._positions[tp] = max(self._positions.get(tp, 0), r.offset + 1)

    def refresh(self, consumer: Any) -> None:
        """Set the gauge from the consumer's assignment, high watermarks and committed offsets."""
        try:
            assigned = consumer.assignment()
        except Exception:  # noqa: BLE001 - the consumer is not started yet
            return
        committed: dict[TP, int | None] = getattr(consumer, "_committed_offset", {})
        for tp in list(self._positions):
            if tp not in assigned:  # revoked: another worker reports it now
                del self._positions[tp]
        for labels in list(self.gauge._metrics):
            if TP(labels[0], int(labels[1])) not in assigned:
                self.gauge.remove(*labels)
        for tp in assigned:
            try:
                hw = consumer.highwater(tp)
            except Exception:  # noqa: BLE001 - not fetched yet
                continue
            if hw is None:
                continue
            next_offset = max(self._positions.get(tp, 0), committed.get(tp) or 0)
            self.gauge.labels(tp.topic, str(tp.partition)).set(max(0, hw - next_offset))
