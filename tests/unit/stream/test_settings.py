import pytest

from tagstream.core.errors import ConfigError
from tagstream.stream.events import EventLimits
from tagstream.stream.settings import WorkerSettings, load_settings


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
