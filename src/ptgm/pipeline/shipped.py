"""The pre-trained Crafter models that ship with ptgm, so that the default `ptgm run` starts from skills that
take longer to pre-train than a newcomer's first run should.

They are a finished pre-training's codebook, low-level policy and prior (weights in safetensors, records in
JSON), with the eval-low record, made by `ptgm run --config configs/pretrain.yaml` and copied into the package
by `python -m ptgm.pipeline --ship runs/pretrain`. `shipped.json` names the command and config that made them
and the SHA-256 of every file, checked before they are used. Their weights are stored in float16 and loaded into
float32 networks.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

from ptgm.config import ConfigError, load_yaml
from ptgm.io import ArtifactError, load_json, provenance, save_json, sha256_file
from ptgm.models.artifacts import WEIGHTS, store_half
from ptgm.pipeline.stages import STAGE_FILE, Pretrained

SHIPPED = Path(__file__).resolve().parent.parent / "shipped" / "crafter"
MANIFEST = "shipped.json"
FORMAT = "ptgm-shipped/1"
REGENERATE = "ptgm run --config configs/pretrain.yaml && python -m ptgm.pipeline --ship runs/pretrain"
# What a downstream run reads of each stage; checkpoints, TensorBoard logs and pictures stay behind.
FILES = {
    "codebook": ("codebook.json", "codebook.npz", "config.yaml", STAGE_FILE),
    "low": ("config.json", "metrics.json", "weights.safetensors", STAGE_FILE),
    "prior": ("config.json", "metrics.json", "weights.safetensors", STAGE_FILE),
    "eval_low": ("eval_low.json", STAGE_FILE),
}


def ship(run: Path, to: Path = SHIPPED) -> dict[str, Any]:
    """Copy the pre-training in `run` (a finished `ptgm run` folder) into `to`, with its manifest."""
    at = Pretrained(run).check()
    missing = [f"{folder}/{name}" for folder, names in FILES.items() for name in names
               if not (run / folder / name).is_file()]
    if missing:
        raise ArtifactError(f"{run} lacks {', '.join(missing)}: not a finished pre-training with eval-low")
    config = load_yaml(run / "config.yaml")
    if config.get("methods"):
        raise ConfigError(f"{run} was run with downstream methods; ship a pre-training-only run (methods: [])")
    with tempfile.TemporaryDirectory(dir=to.parent if to.parent.exists() else None) as tmp:
        staged = Path(tmp) / "shipped"
        for folder, names in FILES.items():
            (staged / folder).mkdir(parents=True)
            for name in names:
                shutil.copy2(at.root / folder / name, staged / folder / name)
            if WEIGHTS in names:  # half the package's size; eval-low measured them as trained
                store_half(staged / folder)
        manifest = {"format": FORMAT, "world": "crafter", "made_by": REGENERATE, "config": config,
                    "files": {f"{folder}/{name}": sha256_file(staged / folder / name)
                              for folder, names in FILES.items() for name in names},
                    "provenance": provenance(f"python -m ptgm.pipeline --ship {run}")}
        save_json(staged / MANIFEST, manifest)
        if to.exists():
            shutil.rmtree(to)
        to.parent.mkdir(parents=True, exist_ok=True)
        staged.rename(to)
    return manifest


def check_shipped(source: Path = SHIPPED) -> dict[str, Any]:
    """The manifest of the shipped models in `source`, after checking every file against it."""
    if not (source / MANIFEST).is_file():
        raise ArtifactError(f"no shipped pre-training in {source} (no {MANIFEST}); regenerate it with `{REGENERATE}` "
                            f"or run with --from-scratch")
    manifest = load_json(source / MANIFEST, "shipped pre-training manifest")
    if manifest.get("format") != FORMAT or not isinstance(manifest.get("files"), dict):
        raise ArtifactError(f"{source / MANIFEST} is not a {FORMAT} manifest")
    for name, digest in manifest["files"].items():
        path = source / name
        if ".." in Path(name).parts or not path.is_file() or sha256_file(path) != digest:
            raise ArtifactError(f"shipped pre-training file {path} is missing or altered (SHA-256 differs from "
                                f"{MANIFEST}); regenerate it with `{REGENERATE}` or run with --from-scratch")
    return manifest


def install_shipped(at: Pretrained, log: Callable[[str], None] = print, source: Path = SHIPPED) -> None:
    """Copy the shipped models into the pre-training folders of `at` (codebook/, low/, prior/, eval_low/), once:
    a folder that already holds them is left as it is; one holding a pre-training of its own is an error."""
    manifest = check_shipped(source)
    marker = at.root / MANIFEST
    if marker.is_file():
        if load_json(marker, "shipped pre-training record").get("files") != manifest["files"]:
            raise ConfigError(f"{at.root} holds another version of the shipped pre-training; use another --out")
        log(f"[pretrained] done already: the shipped models in {at.root}")
        return

    def holds_shipped(folder: str) -> bool:  # a copy an interrupted install already renamed into place
        return all(sha256_file(at.root / name) == digest for name, digest in manifest["files"].items()
                   if name.startswith(f"{folder}/") and (at.root / name).is_file())

    taken = [str(at.root / folder) for folder in FILES if (at.root / folder).exists() and not holds_shipped(folder)]
    if taken:
        raise ConfigError(f"{', '.join(taken)} already hold(s) a pre-training of this run's own, but the config "
                          f"starts from the shipped one (pretrained: shipped); use another --out")
    log(f"[pretrained] the shipped models ({manifest['made_by'].split(' && ')[0]}) -> {at.root}")
    at.root.mkdir(parents=True, exist_ok=True)
    for folder in FILES:
        if (at.root / folder).exists():
            continue
        # Copied whole, then renamed into place: an interrupted copy leaves no half folder behind.
        partial = at.root / f".{folder}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(source / folder, partial)
        partial.rename(at.root / folder)
    save_json(marker, manifest)  # last: its presence says the copy is complete
