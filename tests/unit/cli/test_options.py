import inspect

import pytest
import typer
from typer.testing import CliRunner

from tagstream.cli.options import build, model_parameters, with_model_options
from tagstream.core.errors import ConfigError
from tagstream.trainer.options import TrainOptions


def test_every_training_option_is_a_cli_option_with_the_model_default():
    params = {p.name: p for p in model_parameters(TrainOptions)}
    assert set(params) == set(TrainOptions.model_fields)
    for name, p in params.items():
        assert p.default.default == TrainOptions.model_fields[name].default, name
    assert params["references"].default.param_decls == ("--references/--no-references",)


def test_a_number_or_a_word_is_read_as_text_and_converted_by_the_model():
    params = {p.name: p for p in model_parameters(TrainOptions)}
    assert params["max_length"].annotation is str and params["max_length"].default.metavar == "<int|auto>"
    assert params["epochs"].annotation is int and params["epochs"].default.metavar is None
    assert build(TrainOptions, {"max_length": "128"}).max_length == 128
    assert build(TrainOptions, {"max_length": "auto"}).max_length == "auto"


def test_an_error_of_the_whole_model_is_its_own_line():
    with pytest.raises(ConfigError, match="^--resume: not with --max-length auto"):
        build(TrainOptions, {"max_length": "auto", "resume": "x"})


def test_a_bad_value_names_the_option():
    with pytest.raises(ConfigError, match="^--freeze-layers: takes a number of layers or 'all'$"):
        build(TrainOptions, {"freeze_layers": "x"})


def test_decorated_command_gets_one_validated_model():
    app = typer.Typer()
    seen = {}

    @app.command()
    @with_model_options(TrainOptions, include=["epochs", "loss", "lora"])
    def cmd(opts: TrainOptions, name: str = typer.Option("n", "--name")) -> None:
        seen["opts"], seen["name"] = opts, name

    assert "opts" not in inspect.signature(cmd).parameters
    res = CliRunner().invoke(app, ["--epochs", "3", "--loss", "focal", "--lora", "--name", "z"])
    assert res.exit_code == 0, res.output
    assert seen["opts"] == TrainOptions(epochs=3, loss="focal", lora=True) and seen["name"] == "z"
    assert CliRunner().invoke(app, ["--loss", "mse"]).exit_code == 2
