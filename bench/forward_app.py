"""A Faust app that only forwards: the worker's Kafka path (same transport, `noack_take` micro-batches,
publish, wait for acknowledgements, then ack) with no decoding, cache or model, on the worker's event loop. The
benchmark runs it as the stream engine's own ceiling (point "p").

    TAGSTREAM_BROKER_URL=... TAGSTREAM_INPUT_TOPIC=a TAGSTREAM_OUTPUT_TOPIC=b python -m bench.forward_app
"""

from __future__ import annotations

import asyncio
from typing import Any

import faust

from tagstream.stream import event_loop
from tagstream.stream.faust_app import faust_app, raw_topic, started_producer
from tagstream.stream.logs import logging_config
from tagstream.stream.settings import load_settings


def main() -> None:
    s = load_settings()
    event_loop.install(s.event_loop)  # the worker's loop (stream/app.py run_worker)
    app = faust_app(s, f"{s.app_id}-forward", web_enabled=False)  # the worker's app, without its web server
    source = raw_topic(app, s.input_topic)

    @app.agent(source, concurrency=1)
    async def forward(stream: Any) -> None:
        async for events in stream.noack_take(s.batch_max, within=s.batch_wait_s):
            producer = await started_producer(app)  # as the worker sends (stream/faust_app.py)
            futures = [
                await producer.send(s.output_topic, e.message.key, e.message.value, None, None, []) for e in events
            ]
            await asyncio.gather(*futures)
            for e in events:
                await stream.ack(e)

    faust.Worker(
        app, loglevel="WARNING", logging_config=logging_config("WARNING", True), quiet=True
    ).execute_from_commandline()


if __name__ == "__main__":
    main()
