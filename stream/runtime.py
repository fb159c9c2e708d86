"""The worker's clients, made from the settings when the app starts and closed when it stops: Triton,
the Redis cache, the batch processor over them and the publisher."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from tagstream.stream.cache import TagCache
from tagstream.stream.pipeline import BatchProcessor
from tagstream.stream.publisher import Publisher, SendFn
from tagstream.stream.settings import WorkerSettings
from tagstream.stream.triton_client import TritonInference

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    inference: TritonInference
    cache: TagCache
    processor: BatchProcessor
    publisher: Publisher

    @classmethod
    def open(cls, s: WorkerSettings, send: SendFn) -> Runtime:
        """The clients of the settings; `send` is the app producer's send."""
        inference = TritonInference.from_settings(s)
        cache = TagCache.from_settings(s)
        processor = BatchProcessor(
            inference=inference, cache=cache, model_name=s.model_name, limits=s, explain_top_words=s.explain_top_words
        )
        publisher = Publisher(
            send, output_topic=s.output_topic, dlq_topic=s.dlq_topic, max_request_bytes=s.producer_max_request_bytes
        )
        # the event size limit, the producer's request size and the dead-letter encoding, side by side
        kept = publisher.max_value_bytes
        log.info(
            "events up to %d bytes are accepted (TAGSTREAM_MAX_EVENT_BYTES); a dead letter keeps up to %d bytes of "
            "its original (base64 under TAGSTREAM_PRODUCER_MAX_REQUEST_BYTES=%d)%s",
            s.max_event_bytes,
            kept,
            s.producer_max_request_bytes,
            "" if kept >= s.max_event_bytes else "; larger rejected events keep a prefix, their size and coordinates",
        )
        return cls(inference, cache, processor, publisher)

    async def close(self) -> None:
        await asyncio.gather(self.inference.close(), self.cache.close(), return_exceptions=True)
