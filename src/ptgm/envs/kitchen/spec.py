"""Names and shapes of the Franka Kitchen world; importable without MuJoCo.

State observation (float32 vector of 59 values), the `observation` of Gymnasium-Robotics'
FrankaKitchen-v1:

- [0:9]    robot joint positions (`robot_pos`): 7 arm joints (rad), 2 finger joints (m);
- [9:18]   robot joint velocities, same order;
- [18:39]  object positions (the 21 object joints, `objects`): the 4
           oven knobs each followed by its burner, the light switch, the light, the slide cabinet,
           the left and right hinge doors, the microwave door, and the kettle's free joint
           (x, y, z, then its quaternion w, x, y, z);
- [39:59]  object velocities, same order (the kettle's 6 as linear then angular).

Action: 9 joint velocities in [-1, 1] (the arm's 7, then the 2 fingers).

A goal (`goal_slices`) is `robot_pos` then `objects`, 30 values: MuJoCo's qpos.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ptgm.envs.base import SymbolicLayout, WorldSpec

EPISODE_STEPS = 280  # FrankaKitchen-v1's (and D4RL's) episode length
COMPLETE_DISTANCE = 0.3  # a subtask counts once its joints are this close (L2) to the goal


@dataclass(frozen=True)
class Subtask:
    """One of the seven manipulations: which object joints (indices into MuJoCo's qpos) and their goal."""

    name: str
    qpos: tuple[int, ...]
    goal: tuple[float, ...]


# Gymnasium-Robotics' own indices and goals. Its documentation calls the bottom burner knob 1 and the
# top burner knob 3 and the hinge cabinet the left door; the indices below (knobs 2 and 4, the right
# door at 1.45 rad) are what the environment actually checks.
SUBTASKS = (
    Subtask("bottom_burner", (11, 12), (-0.88, -0.01)),
    Subtask("top_burner", (15, 16), (-0.92, -0.01)),
    Subtask("light_switch", (17, 18), (-0.69, -0.05)),
    Subtask("slide_cabinet", (19,), (0.37,)),
    Subtask("hinge_cabinet", (20, 21), (0.0, 1.45)),
    Subtask("microwave", (22,), (-0.75,)),
    Subtask("kettle", (23, 24, 25, 26, 27, 28, 29), (-0.23, 0.75, 1.62, 0.99, 0.0, 0.0, -0.06)),
)

_JOINTS = ("arm1", "arm2", "arm3", "arm4", "arm5", "arm6", "arm7", "finger_r", "finger_l")
_OBJECTS = ("knob1", "burner1", "knob2", "burner2", "knob3", "burner3", "knob4", "burner4", "light_switch",
            "light", "slide_cabinet", "hinge_left", "hinge_right", "microwave", "kettle_x", "kettle_y", "kettle_z",
            "kettle_qw", "kettle_qx", "kettle_qy", "kettle_qz")
_OBJECT_VELS = (*_OBJECTS[:14], "kettle_vx", "kettle_vy", "kettle_vz", "kettle_wx", "kettle_wy", "kettle_wz")
STATE_NAMES = (*(f"{j}_pos" for j in _JOINTS), *(f"{j}_vel" for j in _JOINTS), *(f"{o}_pos" for o in _OBJECTS),
               *(f"{o}_vel" for o in _OBJECT_VELS))

KITCHEN_SPEC = WorldSpec(
    name="kitchen",
    action_names=tuple(f"{j}_velocity" for j in _JOINTS),
    achievements=tuple(s.name for s in SUBTASKS),
    items=(),
    item_max=0,
    id_names=(),
    symbolic_layout=SymbolicLayout(view_shape=(0, 0), n_ids=0, n_items=0, extras=STATE_NAMES),
    pixel_shape=(),
    default_max_steps=EPISODE_STEPS,
    obs_modes=("symbolic",),
    symbolic_dtype="float32",
    action_shape=(len(_JOINTS),),
    state_slices={"robot_pos": (0, 9), "robot_vel": (9, 18), "objects": (18, 39), "objects_vel": (39, 59)},
    # MuJoCo's qpos: where the arm is and where every object is. PTGM-Kitchen's 21-value goal is the 9 joint
    # positions and the 12 object values of its four tasks; all 21 object values keep the goal task-agnostic.
    goal_slices=("robot_pos", "objects"),
    summary="count",  # the subtasks done per episode, as D4RL and PTGM-Kitchen score it
    benchmark=("microwave", "kettle", "bottom_burner", "light_switch"),  # the `standard_four` task's subtasks
)


def completed(qpos: np.ndarray) -> np.ndarray:
    """Which subtasks (SUBTASKS order) are within COMPLETE_DISTANCE of their goal in MuJoCo state `qpos`
    (one state, or a batch [..., 30] giving [..., 7])."""
    qpos = np.asarray(qpos)
    return np.stack([np.linalg.norm(qpos[..., list(s.qpos)] - np.asarray(s.goal), axis=-1) < COMPLETE_DISTANCE
                     for s in SUBTASKS], axis=-1)


def events_from_states(states: np.ndarray) -> np.ndarray:
    """The `achievements` of an episode, (T, 7) bool, from its T+1 state observations, as `KitchenEnv` reports
    them: a subtask counts on the step it is first completed, never again, and not if done at the start.
    For data recorded elsewhere (a Minari dataset) that carries no per-step events: the state decides them.
    The state holds the robot's 9 joint positions, then (at 18:39) the object joints: MuJoCo's qpos, in order."""
    states = np.asarray(states)
    done = completed(np.concatenate([states[:, 0:9], states[:, 18:39]], axis=1))
    seen = np.logical_or.accumulate(done, axis=0)  # unlocked at or before each observation
    return done[1:] & ~seen[:-1]
