import pytest

from tagstream.core.errors import ConfigError
from tagstream.stream.events import EventLimits
from tagstream.stream.settings import OTHER_VARIABLES, WorkerSettings, load_settings, unknown_variables


def test_settings_from_env(monkeypatch):
    monkeypatch.setenv("TAGSTREAM_BATCH_MAX", "7")
    monkeypatch.setenv("TAGSTREAM_MAX_TITLE_CHARS", "50")
    monkeypatch.setenv("TAGSTREAM_REDIS_URL", "redis://:secret@host:6379/0")
    s = WorkerSettings()
    assert s.batch_max == 7 and s.max_title_chars == 50
    assert isinstance(s, EventLimits)  # the size limits are settings
    assert "secret" not in repr(s) and s.redis_url.get_secret_value().endswith("@host:6379/0")


@pytest.mark.parametrize(
    "var,value,message",
    [
        ("TAGSTREAM_BATCH_MAX", "abc", "TAGSTREAM_BATCH_MAX: Input should be a valid integer"),
        ("TAGSTREAM_BATCH_MAX", "0", "TAGSTREAM_BATCH_MAX: Input should be greater than or equal to 1"),
        ("TAGSTREAM_DLQ_MAX_RATE", "2", "TAGSTREAM_DLQ_MAX_RATE: Input should be less than or equal to 1"),
        ("TAGSTREAM_EVENT_LOOP", "trio", "TAGSTREAM_EVENT_LOOP: Input should be 'auto', 'uvloop' or 'asyncio'"),
    ],
)
def test_a_bad_setting_names_its_variable(monkeypatch, var, value, message):
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError, match=message) as e:
        load_settings()
    assert "\n" not in str(e.value) and f"'{value}'" in str(e.value)


def test_the_redis_password_comes_from_a_file_as_it_is(monkeypatch, tmp_path):
    secret = tmp_path / "redis_password"
    secret.write_text('p@ss/w:rd#1 "q" \\x\n', encoding="utf-8")  # one line; a file's line end is not part of it
    monkeypatch.setenv("TAGSTREAM_REDIS_URL", "redis://redis:6379/0")
    monkeypatch.setenv("TAGSTREAM_REDIS_PASSWORD_FILE", str(secret))
    s = load_settings()
    assert s.redis_password() == 'p@ss/w:rd#1 "q" \\x'
    assert "p@ss" not in repr(s)


def test_the_redis_password_is_set_in_one_place(monkeypatch, tmp_path):
    secret = tmp_path / "redis_password"
    secret.write_text("pw", encoding="utf-8")
    monkeypatch.setenv("TAGSTREAM_REDIS_URL", "redis://:other@redis:6379/0")
    monkeypatch.setenv("TAGSTREAM_REDIS_PASSWORD_FILE", str(secret))
    with pytest.raises(ConfigError, match="set twice"):
        load_settings()


def test_an_unreadable_password_file_names_its_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("TAGSTREAM_REDIS_PASSWORD_FILE", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="^TAGSTREAM_REDIS_PASSWORD_FILE: cannot read"):
        load_settings().redis_password()


def test_the_broker_url_takes_the_host_port_form_of_kafka_clients(monkeypatch):
    monkeypatch.setenv("TAGSTREAM_BROKER_URL", "127.0.0.1:9092, kafka://b2:9093")
    assert load_settings().broker_url == "kafka://127.0.0.1:9092;kafka://b2:9093"


@pytest.mark.parametrize(
    "name,closest",
    [
        ("TAGSTREAM_BATCH_SIZE", "TAGSTREAM_BATCH_MAX"),
        ("TAGSTREAM_KAFKA_BOOTSTRAP_SERVERS", "TAGSTREAM_BROKER_URL"),
        ("TAGSTREAM_LOGLEVEL", "TAGSTREAM_LOG_LEVEL"),
        ("TAGSTREAM_TRITON_TIMEOUT", "TAGSTREAM_TRITON_TIMEOUT_S"),
        ("tagstream_dlq_rate", "TAGSTREAM_DLQ_MAX_RATE"),
    ],
)
def test_an_unknown_variable_is_named_with_the_closest_setting(name, closest):
    env = {name: "1", "TAGSTREAM_BATCH_MAX": "8", "TAGSTREAM_VERSION": "0.2.0", "PATH": "/bin"}
    assert unknown_variables(env) == [f"{name} is not a setting; the closest is {closest}"]


def test_known_settings_and_the_tools_variables_are_not_unknown():
    env = {f"TAGSTREAM_{f.upper()}": "x" for f in WorkerSettings.model_fields} | dict.fromkeys(OTHER_VARIABLES, "x")
    assert unknown_variables(env) == []
