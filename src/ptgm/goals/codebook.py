"""The goal codebook: N goal vectors, each a real sample's embedding, indexed by code.

Saved as `codebook.npz` (codes and the clustering's arrays) plus `codebook.json` (embedder and
its settings, dimensions, the episode and step each code came from, seed, dataset id, the
config that built it). Loading checks all of it; callers pass the embedder they use, and a
codebook built with another embedder or dimension is refused.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ptgm.envs import WorldSpec
from ptgm.goals.embedders import GoalEmbedder, embedding_name, make_embedder
from ptgm.io import ArtifactError, load_json, load_npz, require_keys, save_json, save_npz

CODEBOOK_FORMAT = "ptgm-codebook/1"


class CodebookError(ArtifactError):
    """A codebook is missing, corrupt, or does not match the embedder or model using it."""


@dataclass
class Codebook:
    codes: np.ndarray  # (N, D) float32 goal embeddings
    embedder: dict[str, Any]  # the embedder's settings() (name, dim, ...)
    sources: list[dict[str, Any]]  # per code: {"episode": id, "step": t}
    meta: dict[str, Any] = field(default_factory=dict)  # seed, dataset_id, config, provenance
    extras: dict[str, np.ndarray] = field(default_factory=dict)  # e.g. 2-D points and labels for pictures

    @property
    def n_codes(self) -> int:
        return int(self.codes.shape[0])

    @property
    def dim(self) -> int:
        return int(self.codes.shape[1])

    @property
    def fingerprint(self) -> str:
        """Identifies these exact codes under this embedder; models trained on it record it."""
        h = hashlib.sha256(np.ascontiguousarray(self.codes, np.float32).tobytes())
        h.update(json.dumps(self.embedder, sort_keys=True).encode())
        return h.hexdigest()[:16]

    def nearest(self, goals: np.ndarray) -> np.ndarray:
        """Index of the code with the highest cosine similarity to each goal, (B, D) -> (B,)."""
        return cosine_similarity(goals, self.codes).argmax(axis=1)

    def load_embedder(self, world: WorldSpec, encoder_dir: str | Path | None = None) -> GoalEmbedder:
        """The goal embedder these codes were made with (`encoder_dir`: the directory of a 'learned' one),
        checked against the codebook."""
        embedder = make_embedder(embedding_name(self.embedder), world, encoder_dir)
        self.check(embedder.settings(), embedder.dim)
        return embedder

    def check(self, embedder: dict[str, Any] | None = None, dim: int | None = None) -> "Codebook":
        if embedder is not None and embedder != self.embedder:
            raise CodebookError(f"codebook was built with embedder {self.embedder}, but the caller uses {embedder}; "
                                f"rebuild it with `ptgm codebook --embedding {embedding_name(embedder)}` or use that embedder")
        if dim is not None and dim != self.dim:
            raise CodebookError(f"codebook codes have dimension {self.dim}, but the caller expects {dim}")
        return self

    def check_data(self, dataset_id: str, train_episodes_sha256: str) -> "Codebook":
        """Refuse to be used with data other than the split it was built from: another dataset, or the same one split
        again, after which some codes may be validation states. A codebook that records neither is not checked."""
        built_from = self.meta.get("dataset_id")
        if built_from is not None and built_from != dataset_id:
            raise CodebookError(f"codebook was built from dataset {built_from[:12]}, but the caller uses dataset "
                                f"{dataset_id[:12]}; build the codebook from this dataset (`ptgm codebook --data ...`)")
        train_sha = self.meta.get("train_episodes_sha256")
        if train_sha is not None and train_sha != train_episodes_sha256:
            raise CodebookError("codebook was built on another split of this dataset (it was split again since), so "
                                "some of its codes may be validation states; build the codebook again")
        return self

    def check_samples(self, where: str = "codebook") -> None:
        """When the clustering arrays are present, every code must be its chosen sample's goal."""
        x = self.extras
        if "chosen" not in x or "sample_goals" not in x:
            return
        chosen, goals = x["chosen"], x["sample_goals"]
        n_samples = len(goals)
        if chosen.shape != (self.n_codes,) or goals.ndim != 2 or goals.shape[1] != self.dim:
            raise CodebookError(f"{where}: clustering arrays disagree with the codes (chosen {chosen.shape}, "
                                f"sample_goals {goals.shape}, codes {self.codes.shape})")
        for key in ("points", "labels", "sample_episode", "sample_step"):
            if key in x and len(x[key]) != n_samples:
                raise CodebookError(f"{where}: '{key}' has {len(x[key])} rows, expected {n_samples} samples")
        if chosen.min() < 0 or chosen.max() >= n_samples or not np.array_equal(goals[chosen], self.codes):
            raise CodebookError(f"{where}: the codes are not the goals of their chosen samples (file changed or corrupt)")

    def save(self, out: str | Path) -> Path:
        out = Path(out)
        save_npz(out / "codebook.npz", codes=self.codes.astype(np.float32), **self.extras)
        save_json(out / "codebook.json", {
            "format": CODEBOOK_FORMAT, "n_codes": self.n_codes, "dim": self.dim, "embedder": self.embedder,
            "sources": self.sources, "fingerprint": self.fingerprint, **self.meta,
        })
        return out

    @classmethod
    def load(cls, path: str | Path, embedder: dict[str, Any] | None = None, dim: int | None = None) -> "Codebook":
        path = Path(path)
        meta = load_json(path / "codebook.json", "codebook metadata", CodebookError, required=("format",))
        if meta["format"] != CODEBOOK_FORMAT:
            raise CodebookError(f"{path}: not a ptgm codebook (format {meta.get('format')!r})")
        require_keys(meta, ("n_codes", "dim", "embedder", "sources", "fingerprint"), f"codebook metadata {path}",
                     CodebookError)
        with load_npz(path / "codebook.npz", "codebook arrays") as npz:
            arrays = {k: npz[k] for k in npz.files}
        codes = arrays.pop("codes", None)
        if codes is None or codes.ndim != 2:
            raise CodebookError(f"{path}/codebook.npz has no (N, D) 'codes' array")
        if codes.shape != (meta["n_codes"], meta["dim"]) or len(meta["sources"]) != codes.shape[0]:
            raise CodebookError(f"{path}: codes {codes.shape} disagree with the metadata "
                                f"({meta['n_codes']} codes of dimension {meta['dim']})")
        own = {k: v for k, v in meta.items()
               if k not in ("format", "n_codes", "dim", "embedder", "sources", "fingerprint")}
        book = cls(codes.astype(np.float32), meta["embedder"], meta["sources"], own, arrays)
        if book.fingerprint != meta["fingerprint"]:
            raise CodebookError(f"{path}: codes do not match their recorded fingerprint (file changed or corrupt)")
        book.check_samples(str(path))
        return book.check(embedder, dim)


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-8)
    b = b / np.maximum(np.linalg.norm(b, axis=-1, keepdims=True), 1e-8)
    return a @ b.T
