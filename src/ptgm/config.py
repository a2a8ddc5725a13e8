"""Typed configs: every stage's settings are a dataclass whose fields become CLI flags.

A field's trailing comment is its one-line help, so a config reads like CleanRL's `Args`::

    @dataclass
    class CollectConfig:
        frames: int = 10_000  # total environment steps to record

Configs load from and save to YAML; unknown keys and wrong types are clear errors.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import io
import math
import os
import tokenize
import types
import typing
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import yaml

from ptgm.io import atomic_write_bytes, to_jsonable

T = TypeVar("T")


class ConfigError(ValueError):
    """A config file or value is invalid."""


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_at_least(cfg: Any, minimum: float, *names: str) -> None:
    """ConfigError unless each setting `names` of `cfg` is a finite number >= `minimum`."""
    for name in names:
        value = getattr(cfg, name)
        if not (_is_number(value) and value >= minimum):
            raise ConfigError(f"{_flag(name)} must be a number >= {minimum:g}, got {value!r}")


def check_positive(cfg: Any, *names: str) -> None:
    """ConfigError unless each setting `names` of `cfg` is a finite number > 0."""
    for name in names:
        value = getattr(cfg, name)
        if not (_is_number(value) and value > 0):
            raise ConfigError(f"{_flag(name)} must be a number > 0, got {value!r}")


def check_choice(cfg: Any, name: str, valid: typing.Iterable[str]) -> None:
    """ConfigError unless setting `name` of `cfg` is one of `valid`."""
    valid = list(valid)
    if getattr(cfg, name) not in valid:
        raise ConfigError(f"{_flag(name)} {getattr(cfg, name)!r} is unknown; valid: {', '.join(valid)}")


def check_paths_given(cfg: Any, *names: str) -> None:
    """ConfigError when a folder or file setting `names` of `cfg` is empty (`--out ""` would write here)."""
    for name in names:
        value = getattr(cfg, name)
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{_flag(name)} must name a file or folder, got {value!r}")


@cache
def field_help(cls: type) -> dict[str, str]:
    """Map each field of dataclass `cls` (and its bases) to its trailing `# comment`."""
    helps: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
        for i, tok in enumerate(tokens):
            if tok.type == tokenize.COMMENT and i >= 1:
                line = source.splitlines()[tok.start[0] - 1].strip()
                name = line.split(":", 1)[0].strip()
                if name.isidentifier() and not line.startswith("#"):
                    helps[name] = tok.string.lstrip("# ").strip()
    return helps


def _base_type(tp: Any) -> tuple[Any, bool]:
    """(the non-None type, whether None is allowed) of an annotation."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0], len(args) < len(typing.get_args(tp))
    return tp, False


def add_arguments(parser: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = ()) -> None:
    """Add one `--flag` per field of dataclass `cls`."""
    hints = typing.get_type_hints(cls)
    helps = field_help(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        tp, _ = _base_type(hints[f.name])
        flag = "--" + f.name.replace("_", "-")
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        default = None if required else (f.default if f.default is not dataclasses.MISSING else f.default_factory())
        text = helps.get(f.name, "").replace("%", "%%")  # argparse formats help strings with %
        if tp is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=text)
        elif typing.get_origin(tp) in (list, tuple):
            inner = typing.get_args(tp)[0]
            parser.add_argument(flag, type=inner, nargs="+", default=default, required=required, help=text)
        else:
            parser.add_argument(flag, type=tp, default=default, required=required,
                                help=f"{text} (default: {default})" if not required else text)


def from_args(cls: type[T], args: argparse.Namespace, **overrides: Any) -> T:
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)}
    values.update(overrides)
    return cls(**values)


def from_dict(cls: type[T], data: dict[str, Any] | None, where: str = "config") -> T:
    """Build dataclass `cls` from a mapping, checking keys and basic types."""
    data = dict(data or {})
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}; valid: {sorted(names)}")
    hints = typing.get_type_hints(cls)
    for key, value in data.items():
        tp, optional = _base_type(hints[key])
        if value is None and optional:
            continue
        if dataclasses.is_dataclass(tp) and isinstance(value, dict):
            data[key] = from_dict(tp, value, f"{where}.{key}")
            continue
        if tp is float and isinstance(value, int) and not isinstance(value, bool):
            data[key] = float(value)
            continue
        base = typing.get_origin(tp) or tp
        if not _has_type(value, tp):
            raise ConfigError(f"{where}: {key} must be {_type_name(tp)}, got {value!r}")
        if base in (list, tuple):
            data[key] = base(float(v) if _widens_to_float(v, tp) else v for v in value)
    return cls(**data)


def _widens_to_float(value: Any, tp: Any) -> bool:
    return typing.get_args(tp)[:1] == (float,) and isinstance(value, int) and not isinstance(value, bool)


def _has_type(value: Any, tp: Any) -> bool:
    """Whether `value` (read from YAML) fits annotation `tp`: the container and, for lists, every item
    (an int where a float is wanted fits; a bool is never a number)."""
    base = typing.get_origin(tp) or tp
    if not isinstance(base, type):
        return True  # Any, and annotations this check does not describe
    if base in (int, float) and isinstance(value, bool):
        return False
    if not isinstance(value, base):
        return False
    if base in (list, tuple) and typing.get_args(tp):
        item = typing.get_args(tp)[0]
        return all(_has_type(v, item) or _widens_to_float(v, tp) for v in value)
    return True


def _type_name(tp: Any) -> str:
    return tp.__name__ if isinstance(tp, type) else str(tp).replace("typing.", "")


def same_setting(saved: Any, value: Any) -> bool:
    """Whether the recorded setting `saved` (JSON) equals `value`. A recorded absolute path and another
    spelling of the same existing file or folder (relative to here, or through a link) are the same
    setting: what a path names, not how. A recorded relative path only matches itself, since the
    folder it was relative to is not known."""
    value = to_jsonable(value)
    if saved == value:
        return True
    if isinstance(saved, str) and isinstance(value, str) and os.path.isabs(saved):
        try:
            return os.path.samefile(saved, value)
        except (OSError, ValueError):  # either does not exist (or is not a path at all)
            return False
    return False


def changed_settings(saved: dict[str, Any], cfg: Any, prefix: str = "") -> list[str]:
    """Names of the settings of `cfg` (a dataclass, or a dict of settings and dataclasses) that differ from
    `saved`, the same config recorded as JSON; nested ones as `outer.inner`.

    A setting that `saved` lacks counts as unchanged while `cfg` holds its default: settings are added
    with a default that reproduces what the code did before they existed, so a folder recorded before
    then still matches."""
    is_dict = isinstance(cfg, dict)
    now = cfg if is_dict else {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)}
    defaults = {} if is_dict else {f.name: f.default for f in dataclasses.fields(cfg)
                                   if f.default is not dataclasses.MISSING}
    changed = [prefix + k for k in saved if k not in now]
    for key, value in now.items():
        if key not in saved:
            if key not in defaults or to_jsonable(defaults[key]) != to_jsonable(value):
                changed.append(prefix + key)
        elif isinstance(saved[key], dict) and (isinstance(value, dict) or dataclasses.is_dataclass(value)):
            changed += changed_settings(saved[key], value, f"{prefix}{key}.")
        elif not same_setting(saved[key], value):
            changed.append(prefix + key)
    return sorted(changed)


def load_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"config file {path} is not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must be a mapping of settings")
    return data


def save_yaml(path: str | Path, config: Any) -> None:
    atomic_write_bytes(path, yaml.safe_dump(to_jsonable(config), sort_keys=False).encode())
