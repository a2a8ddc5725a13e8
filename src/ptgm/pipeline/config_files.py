"""The experiment configs under configs/ are the source of their settings: each file lists every setting of
every stage, commented with its help (and the paper's value where known), so a user reads and edits one file.

`render_config` writes a config out in that form. `format_configs` re-renders each file from its own values and
its own leading description, so after a setting is added or its help changes, `python -m ptgm.pipeline
--format-configs configs/*.yaml` brings every file's listing and comments up to date without touching a value,
and `--check-configs` (the tests run it) says which files are out of date."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path
from typing import Any

import yaml

from ptgm.config import field_help
from ptgm.io import atomic_write_bytes, to_jsonable
from ptgm.pipeline.config import PIPELINE_SET, PLACEHOLDERS, STAGE_FIELDS, RunConfig, load_run_config, stage_classes, \
    stage_config

# The paper's values for settings whose own comment does not give them (PTGM.md).
PAPER_NOTES = {("collect", "player"): "paper: human play, the VPT contractor data",
               ("collect", "frames"): "paper: ~30M frames",
               ("high", "gamma"): "paper: 0.999"}
# The lines every config file has between its own description and its settings.
STANDARD_HEADER = ["# Every setting of every stage, commented with its help and the paper's value where known.",
                   "# After a change to the settings' code: python -m ptgm.pipeline --format-configs configs/*.yaml",
                   "# rewrites these comments and listings and keeps every value."]


def _yaml_value(value: Any) -> str:
    return yaml.safe_dump(to_jsonable(value), default_flow_style=True, width=10**6).removesuffix("\n...\n").strip()


def render_config(cfg: RunConfig, about: str) -> str:
    """`cfg` as commented YAML listing every setting of every stage (what the pipeline sets excepted), each
    with its help and, where known, the paper's value; `about` (one paragraph) heads the file."""
    lines = [f"# {line}" for line in textwrap.wrap(about, 100)] + STANDARD_HEADER + [""]
    helps, classes = field_help(RunConfig), stage_classes()
    for f in dataclasses.fields(RunConfig):
        value = getattr(cfg, f.name)
        if f.name not in STAGE_FIELDS:
            lines.append(f"{f.name}: {_yaml_value(value)}  # {helps[f.name]}")
            continue
        lines.append(f"{f.name}:  # {helps[f.name]}")
        stage_cfg = stage_config(f.name, value, **{k: PLACEHOLDERS[k] for k in PIPELINE_SET[f.name]})
        stage_help = field_help(classes[f.name])
        for sf in dataclasses.fields(stage_cfg):
            if sf.name in PIPELINE_SET[f.name]:
                continue
            note = PAPER_NOTES.get((f.name, sf.name))
            comment = stage_help.get(sf.name, "") + (f" ({note})" if note else "")
            lines.append(f"  {sf.name}: {_yaml_value(getattr(stage_cfg, sf.name))}  # {comment}")
    return "\n".join(lines) + "\n"


def description(text: str) -> str:
    """A config file's own description: its leading comment lines, up to the standard header, as one paragraph."""
    about = []
    for line in text.splitlines():
        if not line.startswith("#") or line in STANDARD_HEADER:
            break
        about.append(line.removeprefix("#").strip())
    return " ".join(about)


def format_configs(paths: list[str | Path], check: bool = False) -> list[Path]:
    """Rewrite each file that differs from its formatted form, `render_config` of its own values and description
    with every setting listed (only list them with `check`); returns those."""
    differing = []
    for path in map(Path, paths):
        current = path.read_text()
        text = render_config(load_run_config(path), description(current))
        if text != current:
            differing.append(path)
            if not check:
                atomic_write_bytes(path, text.encode())
    return differing
