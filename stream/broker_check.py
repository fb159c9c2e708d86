"""Why a Kafka broker does not answer, in one line: a TLS or plaintext mismatch, an untrusted broker
certificate or a refused client certificate is named as such (and is not worth waiting for), where
the Kafka client itself only says that it could not bootstrap.

One probe of the first bootstrap server: a TCP connection; over TLS, the handshake with the
settings' own SSL context; in plaintext, a Kafka ApiVersions request, whose answer a TLS listener
gives as a TLS alert."""

from __future__ import annotations

import asyncio
import ssl
import struct
from dataclasses import dataclass

from tagstream.stream.kafka import KafkaConnection, bootstrap_servers

#: ApiVersions v0, correlation id 1, client id "tagstream": the smallest request every broker answers
_API_VERSIONS = struct.pack(">hhih", 18, 0, 1, 9) + b"tagstream"
_TLS_RECORD_TYPES = (0x15, 0x16)  # a TLS alert or handshake record


@dataclass(frozen=True)
class BrokerDiagnosis:
    message: str
    permanent: bool  # a setting is wrong: waiting will not help


def _host_port(broker_url: str) -> tuple[str, int]:
    first = bootstrap_servers(broker_url).split(",")[0]
    host, _, port = first.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port or 9092)


async def diagnose_broker(broker_url: str, connection: KafkaConnection, timeout_s: float = 5.0) -> BrokerDiagnosis:
    host, port = _host_port(broker_url)
    where = f"{host}:{port}"
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
    except (OSError, TimeoutError) as e:
        return BrokerDiagnosis(f"cannot reach the broker at {where} ({e or 'timed out'}); is it running?", False)
    try:
        if connection.uses_ssl:
            return await _tls_handshake(reader, writer, host, connection, where, timeout_s)
        diagnosis = await _plaintext_request(reader, writer, where, timeout_s)
    finally:
        writer.close()
    if not diagnosis.permanent and await _speaks_tls(host, port, timeout_s):
        return _speaks_tls_answer(where)
    return diagnosis


def _speaks_tls_answer(where: str) -> BrokerDiagnosis:
    return BrokerDiagnosis(
        f"the broker at {where} speaks TLS: set TAGSTREAM_KAFKA_SECURITY_PROTOCOL=SSL (or SASL_SSL) and "
        "TAGSTREAM_KAFKA_SSL_CAFILE",
        True,
    )


async def _speaks_tls(host: str, port: int, timeout_s: float) -> bool:
    """Whether a TLS handshake (no certificate check: only the protocol is in question) completes."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port, ssl=context), timeout_s)
    except ssl.SSLError as e:
        return not _not_tls(e)  # a TLS alert (a client certificate required, say) is TLS too
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True


def _not_tls(e: ssl.SSLError) -> bool:
    """The handshake failed because the peer's bytes are no TLS records at all."""
    reason = e.reason or str(e)
    return any(r in reason for r in ("WRONG_VERSION_NUMBER", "RECORD_LAYER", "PACKET_LENGTH_TOO_LONG"))


async def _tls_handshake(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    host: str,
    connection: KafkaConnection,
    where: str,
    timeout_s: float,
) -> BrokerDiagnosis:
    context = connection.ssl_context()
    assert context is not None
    try:
        await asyncio.wait_for(writer.start_tls(context, server_hostname=host), timeout_s)
        # TLS 1.3 reports a refused client certificate only with the first read
        writer.write(_frame(_API_VERSIONS))
        await writer.drain()
        head = await asyncio.wait_for(reader.read(4), timeout_s)
    except ssl.SSLCertVerificationError as e:
        return BrokerDiagnosis(
            f"TLS: the broker at {where} has a certificate this client does not trust ({e.verify_message}); "
            "check TAGSTREAM_KAFKA_SSL_CAFILE",
            True,
        )
    except ssl.SSLError as e:
        reason = e.reason or str(e)
        if _not_tls(e):
            return BrokerDiagnosis(
                f"TLS: the broker at {where} does not speak TLS ({reason}); is it a plaintext listener "
                "(TAGSTREAM_KAFKA_SECURITY_PROTOCOL=PLAINTEXT)?",
                True,
            )
        return BrokerDiagnosis(
            f"TLS: the broker at {where} refused the handshake ({reason}); does it require a client "
            "certificate (TAGSTREAM_KAFKA_SSL_CERTFILE, TAGSTREAM_KAFKA_SSL_KEYFILE) signed by a CA it trusts?",
            True,
        )
    except (OSError, TimeoutError) as e:
        return BrokerDiagnosis(
            f"TLS: the broker at {where} closed or did not complete the handshake ({e or 'timed out'}); "
            "is it a plaintext listener, or does it require a client certificate?",
            True,
        )
    if len(head) < 4:
        return BrokerDiagnosis(
            f"TLS: the broker at {where} closed the connection after the handshake; does it require a client "
            "certificate (TAGSTREAM_KAFKA_SSL_CERTFILE, TAGSTREAM_KAFKA_SSL_KEYFILE) signed by a CA it trusts?",
            True,
        )
    return BrokerDiagnosis(f"the broker at {where} answers over TLS; the Kafka client still failed", False)


async def _plaintext_request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, where: str, timeout_s: float
) -> BrokerDiagnosis:
    try:
        writer.write(_frame(_API_VERSIONS))
        await writer.drain()
        head = await asyncio.wait_for(reader.read(4), timeout_s)
    except (OSError, TimeoutError) as e:
        return BrokerDiagnosis(f"the broker at {where} did not answer a Kafka request ({e or 'timed out'})", False)
    if head and head[0] in _TLS_RECORD_TYPES:
        return _speaks_tls_answer(where)
    if len(head) < 4:
        return BrokerDiagnosis(f"the broker at {where} closed the connection without a Kafka answer", False)
    return BrokerDiagnosis(
        f"the broker at {where} answers Kafka requests, but the Kafka client still failed; is the address it "
        "advertises reachable from here?",
        False,
    )


def _frame(payload: bytes) -> bytes:
    return struct.pack(">i", len(payload)) + payload
