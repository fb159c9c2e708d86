"""The one error a client gives when it cannot start against the broker: what a probe of the broker
finds (down, a TLS or plaintext mismatch, an untrusted certificate), in one line."""

from __future__ import annotations

from tagstream.stream.broker_check import diagnose_broker
from tagstream.stream.errors import BrokerUnreachable
from tagstream.stream.kafka import KafkaConnection


async def broker_unreachable(broker_url: str, connection: KafkaConnection) -> BrokerUnreachable:
    return BrokerUnreachable((await diagnose_broker(broker_url, connection)).message)
