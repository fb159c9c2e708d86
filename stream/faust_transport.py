"""faust's aiokafka transport with a configurable fetch wait.

faust-streaming creates its consumer with `fetch_max_wait_ms=1500`. A broker holds an empty fetch
for up to that long; Apache Kafka answers as soon as data arrives, but the embedded broker (Tansu)
was measured to hold it for ~450 ms even when a message arrived meanwhile (~5 ms with 100 ms). This
transport, registered under the `tagstream-kafka` scheme (entry point `faust.transports`), is the
same transport with the wait taken from the app (`app.fetch_max_wait_ms`, set by the worker from
TAGSTREAM_FETCH_MAX_WAIT_MS).
"""

from __future__ import annotations

import aiokafka
from faust.transport.drivers import aiokafka as faust_aiokafka

SCHEME = "tagstream-kafka"
DEFAULT_FETCH_MAX_WAIT_MS = 100


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: faust_aiokafka.Transport) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # read by AIOKafkaConsumer.start() when it builds its fetcher
        consumer._fetch_max_wait_ms = int(getattr(self.consumer.app, "fetch_max_wait_ms", DEFAULT_FETCH_MAX_WAIT_MS))
        return consumer


class _Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Transport(faust_aiokafka.Transport):
    Consumer = _Consumer


def consumer_url(broker_url: str) -> str:
    """kafka://h:p[;kafka://h2:p] -> tagstream-kafka://h:p[;...] (the producer keeps kafka://)."""
    return broker_url.replace("kafka://", f"{SCHEME}://")
