"""Pictures of the goal space, so a person can see what every code means.

- `scatter.png`: the 2-D points coloured by cluster, each code's chosen sample marked and numbered;
- `codes/code_NNN.png` and `.gif`: the 16 frames leading up to each code's chosen sample (the frames
  whose actions form its action history, as in the published clips), goal frame outlined in red,
  with a one-line description in words;
- `overview.html` (every code's clip and description, grouped by game stage) and `overview.png`
  (one tile per code): a page a person can scan in a minute.

Descriptions come from the symbolic observations alone (`describe_code`): which game events happened
in the clip, what the inventory gained or spent, what the player faces and stands next to, whether it
is night, and what the player owns. Frames come from the dataset's pixels when it has them;
otherwise the episode is replayed from its seed (`replay_frames`), and if the replay diverges the
symbolic view is drawn as a coloured grid instead.

A world with neither pixels nor a grid view (Kitchen's state vector) has no frames to show: its codes
get the scatter and the overview page, described by the subtasks done in the clip and before it.
"""

from __future__ import annotations

import html
import io
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ptgm.data.store import EpisodeStore
from ptgm.envs import WorldSpec, make_env
from ptgm.io import atomic_write_bytes, save_figure

CLIP_FRAMES = 16  # frames per code clip, as in the published code
NIGHT_BELOW = 0.35  # daylight fraction under which the frame is dark enough to call night

# Which game stage a symbolic id or an achievement event points to (Crafter's names).
_STAGE_OF_ID = {"tree": "wood", "table": "table", "stone": "stone", "coal": "coal", "iron": "iron",
                "diamond": "diamond", "water": "water", "cow": "cow", "zombie": "zombie", "skeleton": "skeleton",
                "furnace": "furnace", "plant": "plant", "lava": "lava", "sand": "sand"}
_STAGE_OF_EVENT = {"collect_wood": "wood", "place_table": "table", "make_wood_pickaxe": "craft",
                   "make_wood_sword": "craft", "collect_stone": "stone", "place_stone": "stone",
                   "make_stone_pickaxe": "craft", "make_stone_sword": "craft", "collect_coal": "coal",
                   "place_furnace": "furnace", "collect_iron": "iron", "make_iron_pickaxe": "craft",
                   "make_iron_sword": "craft", "collect_diamond": "diamond", "collect_drink": "water",
                   "eat_cow": "cow", "defeat_zombie": "zombie", "defeat_skeleton": "skeleton", "wake_up": "sleep",
                   "collect_sapling": "plant", "place_plant": "plant", "eat_plant": "plant"}
# Order of the overview's groups, and of tags of equal evidence.
STAGE_ORDER = ("sleep", "diamond", "iron", "furnace", "coal", "craft", "table", "stone", "wood", "water", "cow",
               "zombie", "skeleton", "plant", "lava", "night", "sand", "explore")
_BACKGROUND_IDS = {"none", "grass", "path", "player", "arrow", "sand"}

# Colours of the symbolic ids when a frame has to be drawn from the symbolic view (Crafter's order).
_ID_COLOURS = np.array([
    (0, 0, 0), (60, 110, 220), (100, 170, 60), (120, 120, 120), (170, 150, 110), (220, 200, 140), (30, 100, 30),
    (230, 80, 20), (40, 40, 40), (200, 150, 120), (160, 240, 250), (140, 90, 40), (90, 90, 100), (250, 250, 250),
    (150, 110, 70), (30, 160, 120), (220, 220, 200), (200, 200, 200), (120, 200, 80),
], np.uint8)


@dataclass
class CodeView:
    """What the pictures show of one code."""

    code: int
    episode: str
    step: int
    description: str
    tags: list[str]
    frames: np.ndarray | None = None  # (CLIP_FRAMES, H, W, 3) uint8, ending at the goal frame
    files: dict[str, str] = field(default_factory=dict)

    @property
    def stage(self) -> str:
        """The overview's group: asleep first (nothing else is happening), else the strongest evidence."""
        return "sleep" if "sleep" in self.tags else (self.tags[0] if self.tags else "explore")


def clip_range(step: int) -> tuple[int, int]:
    """[start, stop) of the (up to) CLIP_FRAMES observations ending at the goal observation `step`."""
    return max(0, step - CLIP_FRAMES + 1), step + 1


# -- words ------------------------------------------------------------------------------------------------
def describe_code(world: WorldSpec, symbolic: np.ndarray, achievements: np.ndarray, step: int) -> tuple[str, list[str]]:
    """One line about the goal at observation `step` of an episode, and its stage tags.

    `symbolic` is the episode's (T+1, S) obs_symbolic, `achievements` its (T, A) per-step events."""
    if world.state_vector:
        return _describe_progress(world, achievements, step)
    layout = world.symbolic_layout
    start, _ = clip_range(step)
    view, inventory, extras = layout.split(symbolic[[start, step]].astype(np.int64))
    extra = dict(zip(layout.extras, extras[1]))
    # Tags in order of evidence: what happened in the clip, then what the player faces, then what is near.
    tags: list[str] = []

    def add(found) -> None:
        for tag in sorted(set(found) - set(tags), key=_stage_rank):
            tags.append(tag)

    parts = []

    events = Counter()
    for row in achievements[start:step]:
        for i in np.flatnonzero(row):
            events[world.achievements[i]] += 1
    if events:
        parts.append(", ".join(name + (f" x{n}" if n > 1 else "") for name, n in sorted(events.items())))
        add(_STAGE_OF_EVENT.get(name, name) for name in events)

    change = inventory[1] - inventory[0]
    vitals = {"health", "food", "drink", "energy"}
    gained = [f"{'+' if d > 0 else ''}{d} {world.items[i]}" for i, d in enumerate(change)
              if d != 0 and world.items[i] not in vitals]
    if gained:
        parts.append(" ".join(gained))

    cy, cx = layout.view_shape[0] // 2, layout.view_shape[1] // 2
    around = view[1, cy - 1 : cy + 2, cx - 1 : cx + 2]
    if "facing" in extra:
        dx, dy = [(-1, 0), (1, 0), (0, -1), (0, 1)][int(extra["facing"])]
        faced = world.id_names[around[1 + dy, 1 + dx]]
        if faced not in _BACKGROUND_IDS:
            parts.append(f"facing {faced}")
            add([_STAGE_OF_ID[faced]] if faced in _STAGE_OF_ID else [])
    near = sorted({world.id_names[i] for i in around.ravel()} - _BACKGROUND_IDS)
    if near:
        parts.append("next to " + ", ".join(near))
    add(_STAGE_OF_ID[n] for n in near if n in _STAGE_OF_ID)

    if extra.get("sleeping"):
        parts.append("asleep")
        add(["sleep"])
    if "daylight" in extra:
        night = extra["daylight"] / 255.0 < NIGHT_BELOW
        parts.append("night" if night else "day")
        if night:
            add(["night"])

    owned = [f"{n} {world.items[i]}" if n > 1 else world.items[i] for i, n in enumerate(inventory[1])
             if n > 0 and world.items[i] not in vitals]
    parts.append("has " + (", ".join(owned) if owned else "nothing"))
    return " | ".join(parts), tags or ["explore"]


def _describe_progress(world: WorldSpec, achievements: np.ndarray, step: int) -> tuple[str, list[str]]:
    """A state-vector world's code in words: the achievements (subtasks) done in its clip, and all done by its step.
    Tags: the ones done in the clip, else the last one done before it, else "start"."""
    start, _ = clip_range(step)
    in_clip = [world.achievements[i] for i in np.flatnonzero(achievements[start:step].any(axis=0))]
    done_at = {world.achievements[i]: int(np.flatnonzero(achievements[:step, i])[0])
               for i in np.flatnonzero(achievements[:step].any(axis=0))}
    parts = ["done in clip: " + ", ".join(in_clip)] if in_clip else []
    parts.append("done: " + (", ".join(sorted(done_at, key=done_at.get)) if done_at else "nothing"))
    tags = in_clip or ([max(done_at, key=done_at.get)] if done_at else ["start"])
    return " | ".join(parts), tags


def _stage_rank(tag: str) -> int:
    return STAGE_ORDER.index(tag) if tag in STAGE_ORDER else len(STAGE_ORDER)


# -- frames -------------------------------------------------------------------------------------------------
def render_symbolic(world: WorldSpec, symbolic: np.ndarray, size: int = 64) -> np.ndarray:
    """(B, S) symbolic observations -> (B, size, size, 3) coloured grids of the local view."""
    layout = world.symbolic_layout
    view, _, _ = layout.split(np.asarray(symbolic))
    grid = _ID_COLOURS[np.clip(view, 0, len(_ID_COLOURS) - 1)]  # (B, H, W, 3)
    cell = size // max(layout.view_shape)
    big = grid.repeat(cell, axis=1).repeat(cell, axis=2)
    out = np.zeros((len(grid), size, size, 3), np.uint8)
    out[:, : big.shape[1], : big.shape[2]] = big
    return out


def replay_frames(store: EpisodeStore, ep_id: str, steps: np.ndarray, symbolic: np.ndarray,
                  actions: np.ndarray) -> np.ndarray | None:
    """Pixel frames of observations `steps` of an episode, by replaying its recorded actions from its
    seed; None if the replay does not reproduce the recorded symbolic observations."""
    producer = store.manifest.get("producer_key", {})
    env = make_env(store.world, obs_mode="pixels", max_steps=producer.get("max_episode_steps"))
    wanted = {int(s): i for i, s in enumerate(steps)}
    frames = np.zeros((len(steps), *env.observation_space.shape), np.uint8)
    obs, info = env.reset(seed=store.episode(ep_id).env_seed)
    last = int(max(steps))
    for t in range(last + 1):
        if t in wanted:
            if not np.array_equal(info["symbolic"], symbolic[t]):
                env.close()
                return None
            frames[wanted[t]] = obs
        if t < last:
            obs, _, _, _, info = env.step(int(actions[t]))
    env.close()
    return frames


def code_frames(store: EpisodeStore, world: WorldSpec, views: list[CodeView]) -> None:
    """Fill each view's `frames` (one episode read or replay per distinct episode)."""
    by_episode: dict[str, list[CodeView]] = {}
    for v in views:
        by_episode.setdefault(v.episode, []).append(v)
    for ep_id, group in by_episode.items():
        keys = ["obs_symbolic", "actions"] + (["obs_pixels"] if store.has_pixels else [])
        arrays = store.load(ep_id, keys=keys)
        ranges = [np.arange(*clip_range(v.step)) for v in group]
        if store.has_pixels:
            frames = [arrays["obs_pixels"][r] for r in ranges]
        else:
            steps = np.unique(np.concatenate(ranges))
            replayed = replay_frames(store, ep_id, steps, arrays["obs_symbolic"], arrays["actions"])
            if replayed is None:
                warnings.warn(f"episode {ep_id} does not replay exactly; drawing its symbolic view instead")
                frames = [render_symbolic(world, arrays["obs_symbolic"][r]) for r in ranges]
            else:
                frames = [replayed[np.searchsorted(steps, r)] for r in ranges]
        for v, f in zip(group, frames):
            v.frames = f


# -- images ---------------------------------------------------------------------------------------------------
def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only the fixed bitmap font
        return ImageFont.load_default()


def _upscale(frame: np.ndarray, scale: int) -> Image.Image:
    return Image.fromarray(frame).resize((frame.shape[1] * scale, frame.shape[0] * scale), Image.NEAREST)


def _outline(img: Image.Image, colour=(230, 30, 30), width: int = 3) -> Image.Image:
    ImageDraw.Draw(img).rectangle([0, 0, img.width - 1, img.height - 1], outline=colour, width=width)
    return img


def _wrap(text: str, font, width: int, draw: ImageDraw.ImageDraw) -> list[str]:
    lines, line = [], ""
    for word in text.split(" "):
        trial = f"{line} {word}".strip()
        if draw.textlength(trial, font=font) <= width or not line:
            line = trial
        else:
            lines.append(line)
            line = word
    return lines + [line]


def save_code_strip(view: CodeView, path: Path, scale: int = 2, per_row: int = 8) -> None:
    """Two rows of frames (goal frame outlined) under a header with the code's description."""
    frames = [_upscale(f, scale) for f in view.frames]
    frames[-1] = _outline(frames[-1])
    w, h = frames[0].size
    rows = (len(frames) + per_row - 1) // per_row
    font, big = _font(14), _font(18)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    lines = _wrap(view.description, font, per_row * w - 16, probe)
    header = 34 + 18 * len(lines)
    img = Image.new("RGB", (per_row * w, header + rows * h), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    draw.text((8, 6), f"code {view.code}  [{', '.join(view.tags)}]  {view.episode} t={view.step}", fill=(0, 0, 0),
              font=big)
    for i, line in enumerate(lines):
        draw.text((8, 30 + 18 * i), line, fill=(40, 40, 40), font=font)
    for i, frame in enumerate(frames):
        img.paste(frame, ((i % per_row) * w, header + (i // per_row) * h))
    _save_image(img, path)


def save_code_gif(view: CodeView, path: Path, scale: int = 2, ms_per_frame: int = 150) -> None:
    frames = [_upscale(f, scale) for f in view.frames]
    frames[-1] = _outline(frames[-1])
    durations = [ms_per_frame] * (len(frames) - 1) + [ms_per_frame * 6]  # linger on the goal frame
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0)
    atomic_write_bytes(path, buf.getvalue())


def _save_image(img: Image.Image, path: Path) -> None:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())


def save_scatter(points: np.ndarray, labels: np.ndarray, chosen: np.ndarray, path: Path, title: str) -> None:
    """The 2-D points coloured by cluster, chosen samples marked with their code number."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if points.shape[1] != 2:  # `--reduce none`: show a PCA projection of the clustered features
        centred = points - points.mean(axis=0)
        points = centred @ np.linalg.svd(centred, full_matrices=False)[2][:2].T
        title += " (PCA view of the clustered features)"
    n = int(labels.max()) + 1
    colours = plt.get_cmap("tab20")(np.arange(n) % 20)
    rng = np.random.default_rng(0)
    colours = colours[rng.permutation(n)]  # neighbouring clusters rarely share a colour
    fig, ax = plt.subplots(figsize=(11, 11), dpi=110)
    ax.scatter(points[:, 0], points[:, 1], c=colours[labels], s=4, linewidths=0, alpha=0.7)
    ax.scatter(points[chosen, 0], points[chosen, 1], marker="X", s=70, c="black", edgecolors="white", linewidths=0.8)
    for code, i in enumerate(chosen):
        ax.annotate(str(code), points[i], xytext=(4, 3), textcoords="offset points", fontsize=7, weight="bold")
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    save_figure(fig, path)


def save_overview_png(views: list[CodeView], path: Path, columns: int = 10, scale: int = 2) -> None:
    """One tile per code, in stage order: its goal frame, its number and stage tags."""
    views = sorted(views, key=lambda v: (_stage_rank(v.stage), v.code))
    tile_w, tile_h = 64 * scale + 8, 64 * scale + 40
    rows = (len(views) + columns - 1) // columns
    img = Image.new("RGB", (columns * tile_w, 40 + rows * tile_h), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    font, big = _font(12), _font(20)
    counts = Counter(v.stage for v in views)
    draw.text((8, 8), f"{len(views)} codes by stage: " + ", ".join(f"{s} {counts[s]}" for s in STAGE_ORDER
                                                                    if counts[s]), fill=(0, 0, 0), font=big)
    for k, v in enumerate(views):
        x, y = (k % columns) * tile_w + 4, 40 + (k // columns) * tile_h
        img.paste(_upscale(v.frames[-1], scale), (x, y))
        draw.text((x, y + 64 * scale + 2), f"{v.code}: {v.stage}", fill=(0, 0, 0), font=_font(14))
        draw.text((x, y + 64 * scale + 19), ", ".join(t for t in v.tags if t != v.stage)[:22], fill=(90, 90, 90),
                  font=font)
    _save_image(img, path)


def save_overview_html(views: list[CodeView], path: Path, title: str, summary: list[str]) -> None:
    """Every code's clip and description on one page, grouped by stage."""
    groups: dict[str, list[CodeView]] = {}
    for v in sorted(views, key=lambda v: (_stage_rank(v.stage), v.code)):
        groups.setdefault(v.stage, []).append(v)
    out = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>",
        "body{font-family:sans-serif;margin:16px;color:#222} h2{margin:18px 0 6px;border-bottom:1px solid #ccc}",
        ".grid{display:flex;flex-wrap:wrap;gap:8px} .card{width:236px;border:1px solid #ddd;padding:4px;"
        "font-size:12px} .card img{width:128px;height:128px;image-rendering:pixelated;float:left;margin-right:4px}"
        " .card b{font-size:14px} .src{color:#888} .scatter{max-width:700px}",
        "</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<ul>" + "".join(f"<li>{html.escape(s)}</li>" for s in summary) + "</ul>",
        "<p>Each clip shows the 16 frames leading to the code's sample (the frames whose actions are in its "
        "action history); the red frame is the goal. Codes are grouped by their strongest stage tag: what "
        "happened in the clip, else what the player faces, else what it stands next to (asleep: sleep).</p>",
        "<p><a href='scatter.png'><img class='scatter' src='scatter.png' alt='t-SNE scatter'></a></p>",
    ]
    for stage, group in groups.items():
        out.append(f"<h2>{html.escape(stage)} ({len(group)})</h2><div class='grid'>")
        for v in group:
            gif = v.files.get("gif", "")
            image = (f"<a href='{html.escape(v.files.get('png', ''))}'><img src='{html.escape(gif)}' "
                     f"alt='code {v.code}'></a>") if gif else ""
            out.append(f"<div class='card'>{image}<b>code {v.code}</b> "
                       f"<span class='src'>{html.escape(v.episode)} t={v.step}</span><br>"
                       f"{html.escape(v.description)}</div>")
        out.append("</div>")
    out.append("</body></html>")
    atomic_write_bytes(path, "\n".join(out).encode())


def save_pictures(store: EpisodeStore, world: WorldSpec, views: list[CodeView], points: np.ndarray,
                  labels: np.ndarray, chosen: np.ndarray, out: Path, title: str, summary: list[str]) -> dict[str, str]:
    """Write the scatter, per-code strips and GIFs, and the overview; returns their paths."""
    out = Path(out)
    save_scatter(points, labels, chosen, out / "scatter.png", title)
    pictures = {"scatter": str(out / "scatter.png"), "overview_html": str(out / "overview.html")}
    if not world.pixel_shape and world.symbolic_layout.view_size == 0:  # no frames to draw: words only
        save_overview_html(views, out / "overview.html", title, summary)
        return pictures
    code_frames(store, world, views)
    for v in views:
        v.files = {"png": f"codes/code_{v.code:03d}.png", "gif": f"codes/code_{v.code:03d}.gif"}
        save_code_strip(v, out / v.files["png"])
        save_code_gif(v, out / v.files["gif"])
    save_overview_png(views, out / "overview.png")
    save_overview_html(views, out / "overview.html", title, summary)
    return {**pictures, "codes": str(out / "codes"), "overview_png": str(out / "overview.png")}
