"""The worker's transport sets aiokafka's fetch wait through a private attribute (faust hard-codes
1500 ms). These tests fail loudly if an aiokafka or faust upgrade moves what it relies on."""

from __future__ import annotations

import inspect

import aiokafka
from faust.transport.drivers import aiokafka as faust_aiokafka

from tagstream.stream.faust_transport import SCHEME, Transport, _ConsumerThread, consumer_url


def test_aiokafka_keeps_fetch_wait_in_the_attribute_we_set():
    assert "self._fetch_max_wait_ms = fetch_max_wait_ms" in inspect.getsource(aiokafka.AIOKafkaConsumer.__init__)
    # start() builds the fetcher from it, after our thread created the consumer
    assert "self._fetch_max_wait_ms" in inspect.getsource(aiokafka.AIOKafkaConsumer.start)


def test_faust_still_builds_its_consumer_in_the_method_we_override():
    assert hasattr(faust_aiokafka.AIOKafkaConsumerThread, "_create_worker_consumer")
    assert issubclass(_ConsumerThread, faust_aiokafka.AIOKafkaConsumerThread)
    assert issubclass(Transport, faust_aiokafka.Transport)


def test_transport_is_registered_under_its_scheme():
    from importlib.metadata import entry_points

    eps = {ep.name: ep.value for ep in entry_points(group="faust.transports")}
    assert eps.get(SCHEME) == "tagstream.stream.faust_transport:Transport"


def test_consumer_url_rewrites_every_broker():
    assert consumer_url("kafka://a:1;kafka://b:2") == f"{SCHEME}://a:1;{SCHEME}://b:2"


def test_faust_keeps_what_the_worker_relies_on():
    """The agent acks by hand (noack_take yields events and acks none), stops without waiting for
    unacked events (stream_wait_empty), and reads committed offsets for the lag gauge."""
    import faust
    from faust.transport.consumer import Consumer

    src = inspect.getsource(faust.Stream.noack_take)
    assert "await self.ack(" not in src.replace("#     await self.ack(event)", "")
    assert "stream_wait_empty" in inspect.getsource(Consumer.on_stop)
    assert "self._committed_offset.update(" in inspect.getsource(Consumer._commit_offsets)
