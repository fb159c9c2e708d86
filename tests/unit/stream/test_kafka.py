import ssl

import pytest
from pydantic import ValidationError

from tagstream.stream.errors import BrokerUnreachable
from tagstream.stream.faust_app import broker_credentials
from tagstream.stream.kafka import KafkaConnection, bootstrap_servers
from tagstream.stream.settings import WorkerSettings
from tagstream.stream.topics import ensure_topics
from tests.tls import make_certs


def test_bootstrap_servers():
    assert bootstrap_servers("kafka://a:1;kafka://b:2") == "a:1,b:2"
    assert bootstrap_servers("a:1,b:2") == "a:1,b:2"


def test_plaintext_by_default():
    assert KafkaConnection().client_kwargs() == {"security_protocol": "PLAINTEXT"}
    assert broker_credentials(WorkerSettings()) is None


def test_sasl_scram_over_tls_reaches_aiokafka_and_faust(tmp_path):
    certs = make_certs(tmp_path)
    s = WorkerSettings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-256",
        kafka_sasl_username="svc",
        kafka_sasl_password="s3cret",
        kafka_ssl_cafile=certs.ca,
        kafka_ssl_certfile=certs.client_cert,
        kafka_ssl_keyfile=certs.client_key,
    )
    kw = s.client_kwargs()
    assert kw["security_protocol"] == "SASL_SSL" and kw["sasl_mechanism"] == "SCRAM-SHA-256"
    assert kw["sasl_plain_username"] == "svc" and kw["sasl_plain_password"] == "s3cret"
    assert isinstance(kw["ssl_context"], ssl.SSLContext) and kw["ssl_context"].verify_mode == ssl.CERT_REQUIRED
    creds = broker_credentials(s)
    assert creds.username == "svc" and creds.mechanism.value == "SCRAM-SHA-256" and creds.ssl_context is not None
    assert "s3cret" not in repr(s)


def test_ssl_only(tmp_path):
    certs = make_certs(tmp_path)
    s = WorkerSettings(kafka_security_protocol="SSL", kafka_ssl_cafile=certs.ca)
    assert s.client_kwargs()["security_protocol"] == "SSL"
    assert broker_credentials(s).protocol.value == "SSL"


@pytest.mark.parametrize(
    "change,match",
    [
        ({"kafka_security_protocol": "SASL_PLAINTEXT"}, "needs a SASL username and password"),
        ({"kafka_ssl_certfile": "c.pem"}, "needs its key"),
        ({"kafka_security_protocol": "SASL_SSH"}, "kafka_security_protocol"),
    ],
)
def test_incomplete_security_settings_are_rejected(change, match):
    with pytest.raises(ValidationError, match=match):
        WorkerSettings(**change)


def test_redis_and_triton_tls_settings(tmp_path):
    certs = make_certs(tmp_path)
    s = WorkerSettings(
        redis_url="rediss://:pw@r:6380/0",
        redis_ssl_ca_certs=certs.ca,
        triton_ssl=True,
        triton_ssl_root_certificates=certs.ca,
    )
    assert s.redis_tls_kwargs() == {"ssl_ca_certs": str(certs.ca)}
    assert s.triton_tls_kwargs() == {"ssl": True, "root_certificates": str(certs.ca)}
    with pytest.raises(ValidationError, match="not a rediss:// URL"):
        WorkerSettings(redis_url="redis://r:6379/0", redis_ssl_ca_certs=certs.ca)


def _closed_port() -> int:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_broker_that_never_answers_is_one_clear_error():
    """The worker creates its topics first; a broker that is down when it starts ends in one line
    naming the broker, after the deadline (here a closed port and a short deadline)."""
    port = _closed_port()
    with pytest.raises(BrokerUnreachable, match=rf"cannot reach the broker at 127.0.0.1:{port} .*tried for 1 s") as e:
        await ensure_topics(f"kafka://127.0.0.1:{port}", {"t": 1}, timeout_s=1.0)
    assert "\n" not in str(e.value)


async def test_a_broker_that_is_down_is_retried_with_growing_pauses(caplog):
    """Pauses of 0.5, 1 and 2 s, then the rest of the 4.5 s deadline: five tries and four log lines
    (INFO: a command that gives up says so in its one error line), not one every half second (nine)."""
    caplog.set_level("INFO", logger="tagstream.stream.topics")
    with pytest.raises(BrokerUnreachable):
        await ensure_topics(f"kafka://127.0.0.1:{_closed_port()}", {"t": 1}, timeout_s=4.5)
    retries = [r.getMessage() for r in caplog.records if "broker not ready" in r.getMessage()]
    pauses = [float(m.rsplit("retrying in ", 1)[1].removesuffix(" s")) for m in retries]
    assert pauses[:3] == [0.5, 1.0, 2.0] and len(pauses) == 4 and 0 < pauses[3] <= 1.0, retries


def test_an_unreadable_or_broken_tls_file_names_its_variable(tmp_path):
    from tagstream.core.errors import ConfigError

    missing = KafkaConnection(kafka_security_protocol="SSL", kafka_ssl_cafile=tmp_path / "nope.pem")
    with pytest.raises(ConfigError, match=r"^TAGSTREAM_KAFKA_SSL_CAFILE: cannot read .*nope\.pem"):
        missing.ssl_context()
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    broken = KafkaConnection(kafka_security_protocol="SSL", kafka_ssl_cafile=junk)
    with pytest.raises(ConfigError, match=r"^TAGSTREAM_KAFKA_SSL_CAFILE: not a usable PEM"):
        broken.ssl_context()
