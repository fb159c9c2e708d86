"""What a user sees when a command fails: one line on stderr naming what to fix, a non-zero exit,
no traceback (the traceback only with --debug)."""

import pytest

from tagstream.localstack.ports import free_port
from tests.conftest import EXAMPLES, tagstream


def one_line_error(res, *needles: str, code: int = 2) -> None:
    err = res.stderr.strip()
    assert res.returncode == code, (res.returncode, res.stdout, res.stderr)
    assert "Traceback" not in res.stderr and len(err.splitlines()) == 1, res.stderr
    assert err.startswith("error: "), err
    for needle in needles:
        assert needle in err, err


def test_training_on_a_missing_file_or_a_directory(tmp_path):
    one_line_error(
        tagstream(
            "train",
            "--train",
            str(tmp_path / "nope.jsonl"),
            "--val",
            str(tmp_path / "v.jsonl"),
            "--out",
            str(tmp_path / "m"),
            check=False,
        ),
        "nope.jsonl: no such file",
    )
    one_line_error(
        tagstream("train", "--train", str(tmp_path), "--val", str(tmp_path), "--out", str(tmp_path / "m"), check=False),
        "is a directory",
    )
    ok = EXAMPLES / "catalogue.val.jsonl"
    one_line_error(
        tagstream(
            "train",
            "--train",
            str(ok),
            "--val",
            str(ok),
            "--out",
            str(tmp_path / "m"),
            "--resume",
            str(tmp_path / "m.checkpoint"),
            check=False,
        ),
        "m.checkpoint: no such directory; --resume takes the checkpoint directory of a stopped run",
    )


def test_a_bad_option_value_names_the_option(tmp_path):
    one_line_error(
        tagstream("train", "--train", "a", "--val", "b", "--out", "c", "--freeze-layers", "some", check=False),
        "--freeze-layers",
        "'all'",
    )


def test_a_bad_setting_names_its_environment_variable(monkeypatch):
    monkeypatch.setenv("TAGSTREAM_BATCH_MAX", "abc")
    one_line_error(tagstream("worker", check=False), "TAGSTREAM_BATCH_MAX", "valid integer", "'abc'")


def test_triton_unreachable():
    url = f"127.0.0.1:{free_port()}"
    one_line_error(tagstream("publish", "--url", url, "--timeout", "5", check=False), f"cannot reach Triton at {url}")


def test_produce_errors(tmp_path, monkeypatch):
    one_line_error(tagstream("produce", "--file", str(tmp_path / "none.jsonl"), check=False), "no such file")
    monkeypatch.setenv("TAGSTREAM_BROKER_URL", f"kafka://127.0.0.1:{free_port()}")
    one_line_error(
        tagstream("produce", "--file", str(EXAMPLES / "catalogue.test.jsonl"), check=False, timeout=120),
        "cannot reach the broker",
    )


def test_export_errors(tmp_path):
    one_line_error(
        tagstream("export", "--model", str(tmp_path / "none"), "--repo", str(tmp_path), check=False), "is missing"
    )


def test_demo_with_a_missing_file_fails_before_starting_anything(tmp_path):
    res = tagstream("demo", "--file", str(tmp_path / "typo.jsonl"), "--workdir", str(tmp_path / "w"), check=False)
    one_line_error(res, "typo.jsonl: no such file")
    assert not (tmp_path / "w").exists()


def test_debug_shows_the_traceback(tmp_path):
    res = tagstream("--debug", "evaluate", "--model", str(tmp_path), "--data", str(tmp_path / "x.jsonl"), check=False)
    assert res.returncode != 0 and "Traceback" in res.stderr


def test_export_to_a_repository_that_cannot_be_written(tmp_path):
    model = tmp_path / "model"
    (model / "encoder").mkdir(parents=True)
    for name in ("head.safetensors", "tagger.json", "labels.json", "thresholds.json"):
        (model / name).write_text("{}")
    repo = tmp_path / "repo-is-a-file"
    repo.write_text("not a directory")
    one_line_error(
        tagstream("export", "--model", str(model), "--repo", str(repo), check=False),
        "cannot write to the model repository",
    )


def test_extracting_a_key_the_text_never_holds(tmp_path):
    args = ["train", "--train", str(EXAMPLES / "catalogue.train.jsonl"), "--val", str(EXAMPLES / "catalogue.val.jsonl")]
    one_line_error(
        tagstream(*args, "--out", str(tmp_path / "m"), "--extract", "colour,material", check=False),
        "--extract: no train text holds a value of material",
    )
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize(
    "var,value,needles",
    [
        ("TAGSTREAM_REDIS_URL", "localhost:6379", ["TAGSTREAM_REDIS_URL", "expected redis://"]),
        ("TAGSTREAM_REDIS_URL", "redis://:pw-secret@127.0.0.1:notaport/0", ["TAGSTREAM_REDIS_URL", "port"]),
        ("TAGSTREAM_LOG_LEVEL", "LOUD", ["TAGSTREAM_LOG_LEVEL", "expected one of DEBUG, INFO"]),
        ("TAGSTREAM_WEB_PORT", "70000", ["TAGSTREAM_WEB_PORT", "65535"]),
        ("TAGSTREAM_BATCH_WAIT_S", "1e999", ["TAGSTREAM_BATCH_WAIT_S", "finite"]),
        ("TAGSTREAM_TRITON_URL", "http://127.0.0.1:8001", ["TAGSTREAM_TRITON_URL", "without a scheme"]),
        ("TAGSTREAM_BROKER_URL", "http://127.0.0.1:9092", ["TAGSTREAM_BROKER_URL", "kafka://host:port or host:port"]),
    ],
)
def test_a_bad_setting_is_one_line_before_any_connection(monkeypatch, var, value, needles):
    """Checked when the settings load, before the worker connects to anything (nothing runs here)."""
    monkeypatch.setenv(var, value)
    res = tagstream("worker", check=False, timeout=60)
    one_line_error(res, *needles)
    assert "pw-secret" not in res.stderr  # a Redis URL's password is never repeated


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--op", "foo"], "Invalid value for '--op': 'foo' is not one of 'upsert', 'delete'"),
        (["--rate", "-5"], "Invalid value for '--rate'"),
        (["--rate", "inf"], "Invalid value for '--rate'"),
        (["--nope"], "No such option: --nope"),
    ],
)
def test_produce_checks_its_options(args, needle):
    one_line_error(tagstream("produce", "--file", str(EXAMPLES / "catalogue.val.jsonl"), *args, check=False), needle)


def test_tail_tags_with_the_broker_down_is_one_line_and_closes_its_consumer(monkeypatch):
    port = free_port()
    monkeypatch.setenv("TAGSTREAM_BROKER_URL", f"127.0.0.1:{port}")
    res = tagstream("tail-tags", "--idle-timeout", "1", check=False, timeout=120)
    one_line_error(res, f"cannot reach the broker at 127.0.0.1:{port}", "is it running?")
    assert "Unclosed" not in res.stderr


def test_an_unknown_variable_names_the_closest_setting(monkeypatch, tmp_path):
    """A typo or another tool's name is not silently ignored: the worker would run with the default."""
    monkeypatch.setenv("TAGSTREAM_BATCH_SIZE", "64")
    one_line_error(
        tagstream("worker", check=False, timeout=60),
        "TAGSTREAM_BATCH_SIZE is not a setting; the closest is TAGSTREAM_BATCH_MAX",
    )
    monkeypatch.delenv("TAGSTREAM_BATCH_SIZE")
    (tmp_path / ".env").write_text("TAGSTREAM_TRITON_TIMEOUT=5\n", encoding="utf-8")  # a .env file is read too
    one_line_error(
        tagstream("produce", "--file", str(EXAMPLES / "catalogue.val.jsonl"), check=False, cwd=tmp_path),
        "TAGSTREAM_TRITON_TIMEOUT is not a setting; the closest is TAGSTREAM_TRITON_TIMEOUT_S",
    )
    monkeypatch.setenv("TAGSTREAM_COMPOSE_REPORT", "x.json")  # read by the tests, not a setting: allowed
    monkeypatch.setenv("TAGSTREAM_WEB_PORT", "70000")  # so the worker stops at its next check, connecting nowhere
    one_line_error(tagstream("worker", check=False, timeout=60), "TAGSTREAM_WEB_PORT")


def test_a_worker_whose_broker_is_down_says_so_in_one_line(monkeypatch):
    """The broker as `host:port` (the form every Kafka client takes), nothing listening there."""
    port = free_port()
    monkeypatch.setenv("TAGSTREAM_BROKER_URL", f"127.0.0.1:{port}")
    monkeypatch.setenv("TAGSTREAM_STARTUP_TIMEOUT_S", "2")
    res = tagstream("worker", check=False, timeout=60)
    one_line_error(res, f"cannot reach the broker at 127.0.0.1:{port}", "tried for 2 s")
