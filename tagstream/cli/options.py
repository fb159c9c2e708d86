"""Command-line options made from pydantic models, so that each option's default, bounds and help
live in one place (the model) and the command gets one validated instance."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Mapping
from types import UnionType
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

import typer
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from tagstream.core.errors import ConfigError

M = TypeVar("M", bound=BaseModel)
F = TypeVar("F", bound=Callable[..., Any])


def _flag(name: str, flags: Mapping[str, str]) -> str:
    return flags.get(name, "--" + name.replace("_", "-"))


def _cli_type(field: FieldInfo) -> tuple[Any, str | None]:
    """The field's type on the command line, and its metavar where the type does not say it: a union
    of a number and a word (`64` or `auto`) is read as text (`<int|auto>`) and the model converts it."""
    annotation = field.annotation
    args = [a for a in get_args(annotation) if a is not type(None)]
    words = [str(w) for a in args if get_origin(a) is Literal for w in get_args(a)]
    if get_origin(annotation) not in (Union, UnionType) or not words:
        return annotation, None
    kinds = [
        (get_args(a)[0] if get_origin(a) is Annotated else a).__name__ for a in args if get_origin(a) is not Literal
    ]
    return str, "<" + "|".join(kinds + words) + ">"


def model_parameters(
    model: type[BaseModel], *, include: Iterable[str] | None = None, flags: Mapping[str, str] | None = None
) -> list[inspect.Parameter]:
    """One keyword parameter with a `typer.Option` per model field (booleans get --x/--no-x)."""
    flags = flags or {}
    names = list(include) if include is not None else list(model.model_fields)
    params = []
    for name in names:
        field = model.model_fields[name]
        flag = _flag(name, flags)
        decls = [f"{flag}/--no-{flag.removeprefix('--')}"] if field.annotation is bool else [flag]
        cli_type, metavar = _cli_type(field)
        option = typer.Option(field.default, *decls, help=field.description, metavar=metavar)
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=cli_type))
    return params


def build(model: type[M], values: Mapping[str, object], flags: Mapping[str, str] | None = None) -> M:
    """The model from option values; a validation error becomes one line naming the option."""
    try:
        return model(**values)
    except ValidationError as e:
        err = e.errors()[0]
        name = str(err["loc"][0]) if err["loc"] else ""
        msg = err["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{_flag(name, flags or {})}: {msg}" if name else msg) from None


def with_model_options(
    model: type[BaseModel],
    *,
    param: str = "opts",
    include: Iterable[str] | None = None,
    flags: Mapping[str, str] | None = None,
) -> Callable[[F], F]:
    """Decorate a command taking `<param>: model`: the command line gets the model's fields as
    options, and the command gets them as one validated model instance."""
    fields = model_parameters(model, include=include, flags=flags)
    names = [p.name for p in fields]

    def decorate(func: F) -> F:
        own = [p for p in inspect.signature(func).parameters.values() if p.name != param]

        @functools.wraps(func)
        def command(**kwargs: Any) -> Any:
            values = {n: kwargs.pop(n) for n in names}
            return func(**{param: build(model, values, flags)}, **kwargs)

        command.__signature__ = inspect.Signature(own + fields)  # type: ignore[attr-defined]
        return command  # type: ignore[return-value]

    return decorate


def command_line(help: str) -> typer.Typer:
    """A typer app as tagstream's command lines are: click's plain help (typer's rich panels show a
    `<bool>` type after every flag), no completion, failures shown by `tagstream.cli.app.run_cli`."""
    return typer.Typer(
        help=help, no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False, rich_markup_mode=None
    )
