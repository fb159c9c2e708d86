import os

import pytest
from pydantic import ValidationError

from tagstream.trainer.options import TrainOptions
from tagstream.trainer.serving import ServingConfig, default_cpu_instances


def test_defaults_are_declared_once_and_documented():
    opts = TrainOptions()
    assert opts.field_dropout == 0.2 and opts.epochs == 8 and opts.loss == "bce"
    for name, field in TrainOptions.model_fields.items():
        assert field.description, f"{name} has no help text"
    for name, field in ServingConfig.model_fields.items():
        assert field.description, f"{name} has no help text"


@pytest.mark.parametrize(
    "change,match",
    [
        ({"freeze_layers": "some"}, "number of layers or 'all'"),
        ({"loss": "mse"}, "bce"),
        ({"lr": 0}, "greater than 0"),
        ({"epochs": 0}, "greater than or equal to 1"),
        ({"unknown": 1}, "Extra inputs"),
        ({"max_length": "long"}, "number of tokens \\(at least 8\\) or 'auto', not 'long'"),
        ({"max_length": 4}, "greater than or equal to 8"),
        ({"max_length": "auto", "resume": "runs/x.checkpoint"}, "not with --max-length auto"),
        ({"unlabelled": "more.jsonl"}, "--unlabelled: needs --teacher"),
        ({"unlabelled": "more.jsonl", "teacher": "scores.npz"}, "needs a teacher model directory"),
    ],
)
def test_bad_options_are_rejected(change, match):
    with pytest.raises(ValidationError, match=match):
        TrainOptions(**change)


def test_freeze_layers_accepts_numbers_and_all():
    assert TrainOptions(freeze_layers="all").freeze_layers == "all"
    assert TrainOptions(freeze_layers="3").freeze_layers == "3"


def test_max_length_takes_tokens_or_auto_from_the_command_line():
    assert TrainOptions(max_length="128").max_length == 128  # the command line passes text
    assert TrainOptions(max_length=" auto ").max_length == "auto"
    assert TrainOptions().max_length == 64


def test_serving_instances_default_by_kind():
    assert ServingConfig(instance_kind="gpu").instances() == 1
    assert ServingConfig().instances() == default_cpu_instances(os.cpu_count())
    assert [default_cpu_instances(c) for c in (None, 1, 2, 3, 16)] == [1, 1, 2, 3, 4]
    assert ServingConfig(instance_count=3).instances() == 3
    assert "count: 3 kind: KIND_GPU" in ServingConfig(instance_kind="gpu", instance_count=3).pbtxt()
