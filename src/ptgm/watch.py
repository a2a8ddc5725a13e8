"""`ptgm watch RUN --out FILE.gif|FILE.mp4`: an animation of an agent playing, to look at rather than read.

Agents (`--agent`):
- `high`: the trained PTGM agent (a `ptgm train-high` run, a saved agent, or a `ptgm run` folder
  holding one PTGM run), acting through `ptgm.api.PTGM.predict`; the panel shows the code it pursues;
- `low`: the low-level policy alone with its null goal, i.e. the clone of the data's player;
- `player`: the task-agnostic player the pre-training's dataset was recorded with.

Each frame is the world's own picture (Crafter's shows the inventory under the view) scaled up, with
a panel beside it: agent, episode, step, the code being pursued and the reward so far. Episode i
plays world `seed + i`. It lives above `ptgm.api` because it plays agents through their `predict`.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ptgm.config import ConfigError, add_arguments, check_at_least, check_choice, from_args
from ptgm.envs import WorldSpec
from ptgm.io import ArtifactError, atomic_write_bytes, load_json
from ptgm.pipeline.stages import Pretrained

if TYPE_CHECKING:  # the API (torch and every stage) is imported only when an agent is watched
    from ptgm.api import Pretraining

AGENTS = ("high", "low", "player")
FORMATS = (".gif", ".mp4")
PANEL_WIDTH = 200


@dataclass(kw_only=True)
class WatchConfig:
    run: str  # a `ptgm run` folder, a `ptgm train-high` run or a saved PTGM agent
    out: str  # the animation to write: FILE.gif, or FILE.mp4 (needs imageio-ffmpeg)
    agent: str = "high"  # high: the trained PTGM agent | low: the low-level policy's clone of the data's player | player: the data's player
    task: str | None = None  # the task to play (default: the high-level agent's own; the plain game for low and player)
    episodes: int = 1  # episodes to play, one after another
    seed: int = 0  # episode i plays world seed + i; also seeds the agent's sampling
    max_steps: int = 500  # each episode stops here if it has not ended
    deterministic: bool = False  # the high-level policy takes its most likely code
    scale: int = 4  # pixels per world pixel
    fps: int = 10  # frames per second

    def validate(self) -> None:
        check_choice(self, "agent", AGENTS)
        check_at_least(self, 1, "episodes", "max_steps", "scale", "fps")
        check_at_least(self, 0, "seed")
        suffix = Path(self.out).suffix.lower()
        if suffix not in FORMATS:
            raise ConfigError(f"--out {self.out!r}: give a .gif or .mp4 file")
        if suffix == ".mp4" and importlib.util.find_spec("imageio_ffmpeg") is None:
            raise ConfigError("writing .mp4 needs imageio-ffmpeg (pip install imageio-ffmpeg); or use --out FILE.gif")
        if Path(self.out).is_dir():
            raise ConfigError(f"--out {self.out} is a folder; give a .gif or .mp4 file")


# An actor: (observations by mode, env info, the env at an episode's first step else None) -> (action, a panel line,
# a picture for the panel or None).
Actor = Callable[[dict[str, np.ndarray], dict[str, Any], Any], tuple[int, str, np.ndarray | None]]


@dataclass
class Watched:
    """What plays: the actor, its world, and the task it plays (None: the plain game) from which tasks file."""

    actor: Actor
    world: WorldSpec
    task: str | None
    tasks_file: str | None = None


def high_level_run(root: Path) -> Path:
    """The PTGM agent in `root`: itself, or the one `ptgm train-high` run in a `ptgm run` folder's rl/."""
    if (root / "agent.json").is_file() or (root / "run.json").is_file() or not (root / "rl").is_dir():
        return root
    runs = sorted(p for p in (root / "rl").iterdir()
                  if (p / "run.json").is_file() and load_json(p / "run.json").get("command") == "ptgm train-high")
    if len(runs) != 1:
        names = ", ".join(str(p) for p in runs) or "none"
        raise ArtifactError(f"{root}/rl holds {len(runs)} PTGM runs ({names}); give the one to watch")
    return runs[0]


def watched(cfg: WatchConfig) -> Watched:
    """The agent `cfg` asks for, loaded from `cfg.run`."""
    from ptgm.api import PTGM, LowLevel, Pretraining

    root = Path(cfg.run)
    if not root.is_dir():
        raise ArtifactError(f"run not found: {root} is not a folder")
    if cfg.agent == "high":
        agent = PTGM.load(high_level_run(root))
        if agent.policy is None:
            raise ArtifactError(f"{root} holds a pre-training but no trained PTGM agent: use --agent low or player, "
                                f"or give a `ptgm train-high` run")
        agent.generator.manual_seed(cfg.seed)
        pictures = CodePictures(Path(agent.pretraining.folders["codebook"]))
        state = None

        def act_high(views, info, env):
            nonlocal state
            action, state = agent.predict(views, state, episode_start=env is not None, deterministic=cfg.deterministic)
            code = int(state.code[0])
            return action, f"code {code}, {int(state.steps_left[0])} steps left", pictures.get(code)

        own = cfg.task is None
        return Watched(act_high, agent.pretraining.world, agent.settings.get("task") if own else cfg.task,
                       agent.settings.get("tasks_file") if own else None)
    pre = Pretraining.load(root)
    if cfg.agent == "low":
        low = LowLevel(pre, seed=cfg.seed)
        return Watched(lambda views, info, env: (low.predict(views, goal=None)[0], "no goal (clone)", None),
                       pre.world, cfg.task)
    return Watched(player_actor(root, pre, cfg.seed), pre.world, cfg.task)


def player_actor(root: Path, pre: Pretraining, seed: int) -> Actor:
    """The player the pre-training's dataset was recorded with, with its recorded settings."""
    from ptgm.data.store import EpisodeStore
    from ptgm.envs import make_player
    from ptgm.evaluate.skills import Skills

    data = Pretrained(root).data
    if not (data / "manifest.json").is_file():
        raise ArtifactError(f"{root} has no dataset (data/) to find its player in: give the `ptgm run` folder")
    settings = Skills(EpisodeStore(data), pre.codebook, pre.low, pre.prior).demonstrator_settings()
    name = settings.pop("name")
    player = make_player(name, seed, pre.world.name, **settings)

    def act(views, info, env):
        if env is not None:
            player.reset(env.unwrapped)
        return int(player.act(views["pixels"], info)), name, None

    return act


def play(cfg: WatchConfig, who: Watched) -> list[np.ndarray]:
    """The frames of `cfg.episodes` episodes: the first observation of each, then one per step."""
    from ptgm.envs import make_env

    env = make_env(who.world.name, obs_mode="pixels", task=who.task, tasks_file=who.tasks_file)
    frames = []
    for episode in range(cfg.episodes):
        obs, info = env.reset(seed=cfg.seed + episode)
        total = 0.0
        head = [f"{cfg.agent} agent", f"episode {episode + 1}/{cfg.episodes}"]
        frames.append(draw(obs, [*head, "step 0", "", "reward 0"], cfg.scale))
        for t in range(1, cfg.max_steps + 1):
            action, line, picture = who.actor({"pixels": obs, "symbolic": info["symbolic"]}, info,
                                              env if t == 1 else None)
            obs, reward, terminated, truncated, info = env.step(action)
            total += reward
            ended = terminated or truncated
            if ended:
                line = "success" if info.get("success") else "episode over"
            frames.append(draw(obs, [*head, f"step {t}", line, f"reward {total:g}"], cfg.scale, picture))
            if ended:
                break
    env.close()
    return frames


class CodePictures:
    """Each code's goal frame: the last frame of the clip `ptgm codebook` drew for it (codes/code_NNN.gif), when
    the codebook folder has them (a saved agent's copy does not)."""

    def __init__(self, codebook: Path):
        self.folder = codebook / "codes"
        self.cache: dict[int, np.ndarray | None] = {}

    def get(self, code: int) -> np.ndarray | None:
        if code not in self.cache:
            path = self.folder / f"code_{code:03d}.gif"
            picture = None
            if path.is_file():
                with Image.open(path) as clip:
                    clip.seek(clip.n_frames - 1)
                    picture = np.asarray(clip.convert("RGB"))
            self.cache[code] = picture
        return self.cache[code]


def draw(pixels: np.ndarray, lines: list[str], scale: int, picture: np.ndarray | None = None) -> np.ndarray:
    """The world's picture scaled up, with `lines` in a panel on its right and `picture` (the code's goal) under
    them."""
    h, w = pixels.shape[0] * scale, pixels.shape[1] * scale
    image = Image.new("RGB", (w + PANEL_WIDTH, h), (245, 245, 245))
    image.paste(Image.fromarray(pixels).resize((w, h), Image.NEAREST), (0, 0))
    canvas = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    for i, text in enumerate(lines):
        canvas.text((w + 10, 10 + 16 * i), text, fill=(30, 30, 30), font=font)
    if picture is not None:
        top = 20 + 16 * len(lines)
        canvas.text((w + 10, top), "its goal:", fill=(30, 30, 30), font=font)
        thumb = Image.fromarray(picture)
        thumb.thumbnail((PANEL_WIDTH - 20, max(h - top - 20, 1)))
        image.paste(thumb, (w + 10, top + 16))
    return np.asarray(image)


def write_animation(frames: list[np.ndarray], path: Path, fps: int) -> None:
    """A looping GIF (Pillow), or an MP4 (imageio with imageio-ffmpeg), written atomically."""
    if path.suffix.lower() == ".gif":
        images = [Image.fromarray(f) for f in frames]
        buf = io.BytesIO()
        # optimize=False keeps every frame, even two alike (the step counter differs anyway).
        images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=1000 // fps, loop=0,
                       optimize=False)
        atomic_write_bytes(path, buf.getvalue())
    else:
        import imageio.v2 as imageio

        tmp = path.with_name(f".{path.name}.tmp.mp4")
        imageio.mimwrite(tmp, frames, fps=fps)
        tmp.replace(path)


def watch(cfg: WatchConfig) -> tuple[Path, int]:
    """Play and write the animation; returns (its path, its number of frames)."""
    cfg.validate()
    frames = play(cfg, watched(cfg))
    write_animation(frames, Path(cfg.out), cfg.fps)
    return Path(cfg.out), len(frames)


def _watch(args: argparse.Namespace) -> None:
    out, n = watch(from_args(WatchConfig, args))
    print(f"{out}: {n} frames")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("watch", help="an animation (.gif, .mp4) of an agent playing: PTGM, the low-level clone "
                                     "or the data's player")
    p.add_argument("run", help="a `ptgm run` folder, a `ptgm train-high` run or a saved PTGM agent")
    add_arguments(p, WatchConfig, skip=("run",))
    p.set_defaults(fn=_watch)
