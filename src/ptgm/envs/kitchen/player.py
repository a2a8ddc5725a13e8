"""A task-agnostic scripted demonstrator for the Franka kitchen.

Each episode it draws a random order and number of subtasks and does them one after another,
with a free move and a pause between them, retrying one that failed; it is never told a
downstream task. It reads the object positions from the MuJoCo model and data of the env (as
Crafter's player reads the raw game) and acts only through joint-velocity actions.

Arm control: damped-least-squares inverse kinematics on the `end_effector` site (position and
orientation), a null-space pull towards a middle posture, joints at their limits taken out of the
solution, and gravity feed-forward; closed loop,
recomputed every step from the current joint positions. Each subtask is a short script of
end-effector targets (waypoints), most of them placed relative to the object's current position,
so that a slipping grasp or a half-open door is followed rather than assumed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import mujoco
import numpy as np

from ptgm.envs.kitchen.spec import KITCHEN_SPEC, completed

ARM = 7  # arm joints; the two finger joints follow
STEP_RAD = 0.16  # joint motion per step at action 1: the env's 2 rad/s velocity scale times its 0.08 s step
DAMPING = 0.05  # damped least squares: keeps steps small near singular poses
MAX_TURN = 0.12  # radians the end effector is asked to turn per step (at most)
OPEN, CLOSED = 1.0, -1.0
CARRY_SPEED = 0.015  # metres per step with the kettle in hand
KETTLE_GOAL = (-0.23, 0.75, 1.62)  # the kettle's position on the top left burner (the subtask's goal)

# An arm posture in the middle of the work space, gripper in HOME_ROT: the null-space pull goes here,
# and the arm comes back here in joint space after the kettle, whose low reach leaves the arm folded
# in a posture from which some orientations are out of the IK's reach.
NEUTRAL_Q = np.array([-0.77, -1.21, 1.2, -2.61, -0.05, 1.86, 1.11])
# The start orientation of the gripper: approach axis (z) towards the wall (+y), fingers apart along x.
HOME_ROT = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])


def rot_z(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def rot_x(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rot_y(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


@dataclass
class Target:
    """Where the end effector should go this step, how it should be turned, and the gripper command."""

    pos: np.ndarray
    rot: np.ndarray
    grip: float = OPEN
    speed: float = 0.05  # metres per step the end effector is asked to move, at most
    joints: np.ndarray | None = None  # when set, move the arm joints to these positions instead


class Arm:
    """Turns an end-effector target into a joint-velocity action for the kitchen's Franka arm."""

    def __init__(self, model, data):
        self.model, self.data = model, data
        self.site = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, "end_effector")
        self.kp = model.actuator_gainprm[:ARM, 0].copy()
        # A servo's target must lead the joint to move it against the joint's damping: without this
        # factor the arm covers about half the motion asked for in a step.
        self.lead = 1.0 + model.dof_damping[:ARM] / (self.kp * STEP_RAD)
        self.low, self.high = model.jnt_range[:ARM, 0], model.jnt_range[:ARM, 1]
        self._jacp = np.zeros((3, model.nv))
        self._jacr = np.zeros((3, model.nv))

    @property
    def pos(self) -> np.ndarray:
        return self.data.site_xpos[self.site].copy()

    @property
    def rot(self) -> np.ndarray:
        return self.data.site_xmat[self.site].reshape(3, 3).copy()

    def turn_error(self, rot: np.ndarray) -> float:
        """Angle (radians) between the end effector's orientation and `rot`."""
        cos = (np.trace(self.rot.T @ rot) - 1.0) / 2.0
        return float(np.arccos(np.clip(cos, -1.0, 1.0)))

    def action(self, target: Target) -> np.ndarray:
        d = self.data
        hold = d.qfrc_bias[:ARM] / self.kp  # the servos sag under gravity without this lead
        if target.joints is not None:
            return self._finish((self.lead * np.clip(target.joints - d.qpos[:ARM], -0.1, 0.1) + hold) / STEP_RAD,
                                target.grip)
        move = target.pos - d.site_xpos[self.site]
        dist = np.linalg.norm(move)
        if dist > target.speed:
            move *= target.speed / dist
        cur = d.site_xmat[self.site].reshape(3, 3)
        turn = 0.5 * np.cross(cur.T, target.rot.T).sum(axis=0)
        angle = np.linalg.norm(turn)
        if angle > MAX_TURN:
            turn *= MAX_TURN / angle
        mujoco.mj_jacSite(self.model, d, self._jacp, self._jacr, self.site)
        jac = np.vstack([self._jacp[:, :ARM], self._jacr[:, :ARM]])
        err = np.concatenate([move, turn])
        q = d.qpos[:ARM]
        free = np.ones(ARM, bool)
        for _ in range(2):
            # A joint at its limit that the solution pushes further out is taken out and the rest solve
            # again: otherwise the servo stops it there and the others move as if it had not.
            j = jac * free
            inv = j.T @ np.linalg.inv(j @ j.T + DAMPING**2 * np.eye(6))
            dq = inv @ err
            # Null-space pull to a middle posture: keeps the elbow where the scripts expect it.
            dq += (np.eye(ARM) - inv @ j) @ (0.1 * (NEUTRAL_Q - q)) * free
            stuck = ((q < self.low + 0.05) & (dq < 0)) | ((q > self.high - 0.05) & (dq > 0))
            if not (stuck & free).any():
                break
            free &= ~stuck
        dq *= free
        return self._finish((self.lead * dq + hold) / STEP_RAD, target.grip)

    @staticmethod
    def _finish(arm: np.ndarray, grip: float) -> np.ndarray:
        action = np.empty(9)
        # Scaled down as a whole rather than clipped joint by joint, so a fast move keeps its direction.
        action[:ARM] = arm / max(1.0, np.abs(arm).max())
        action[ARM:] = grip
        return action


Script = Iterator[Target]


class Scene:
    """Where things are in the kitchen now: object sites and joints, read from MuJoCo each step."""

    def __init__(self, model, data):
        self.model, self.data = model, data
        self._sites: dict[str, int] = {}

    def site(self, name: str) -> np.ndarray:
        if name not in self._sites:
            self._sites[name] = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_SITE, name)
        return self.data.site_xpos[self._sites[name]].copy()

    def body(self, name: str) -> np.ndarray:
        return self.data.xpos[mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_BODY, name)].copy()

    def joint(self, name: str) -> float:
        return float(self.data.qpos[self.model.jnt_qposadr[mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_JOINT, name)]])

    def anchor(self, name: str) -> np.ndarray:
        return self.data.xanchor[mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_JOINT, name)].copy()


def go(arm: Arm, pos, rot: np.ndarray, grip: float = OPEN, tol: float = 0.02, steps: int = 40,
       speed: float = 0.05, until=None) -> Script:
    """Move the end effector to `pos` (a point, or a function giving one each step) until within `tol`,
    `steps` have passed, or `until()` holds (a push ends when the object has moved, not at the point)."""
    for _ in range(steps):
        p = pos() if callable(pos) else pos
        if np.linalg.norm(arm.pos - p) < tol and arm.turn_error(rot) < 0.1 or (until is not None and until()):
            return
        yield Target(np.asarray(p, float), rot, grip, speed)


def hold(arm: Arm, rot: np.ndarray, grip: float, steps: int, pos=None) -> Script:
    """Stay (at `pos`, default where the end effector is) for `steps` steps, e.g. while the fingers close."""
    here = arm.pos if pos is None else np.asarray(pos, float)
    for _ in range(steps):
        yield Target(here, rot, grip)


# -- The subtask scripts ---------------------------------------------------------------------------
# Each yields end-effector targets until its manipulation is over (done or not: the player checks).
# Offsets are in metres from the object's site; the end-effector site sits at the base of the finger pads.


def light_switch(arm: Arm, scene: Scene) -> Script:
    """Sweep the switch lever to the left with the closed fingers."""
    s = scene.site("light_site")
    yield from go(arm, s + [0.10, -0.10, 0.0], HOME_ROT, CLOSED, tol=0.04)
    yield from go(arm, s + [0.08, 0.0, 0.0], HOME_ROT, CLOSED, tol=0.02)
    yield from go(arm, s + [-0.25, 0.0, 0.0], HOME_ROT, CLOSED, tol=0.02, steps=25,
                  until=lambda: scene.joint("light_switch") < -0.65)
    yield from retreat(arm, HOME_ROT, CLOSED)


def slide_cabinet(arm: Arm, scene: Scene) -> Script:
    """Push the door's handle to the right with the closed fingers."""
    s = scene.site("slide_site")
    yield from go(arm, s + [-0.07, -0.10, 0.0], HOME_ROT, CLOSED, tol=0.04)
    yield from go(arm, s + [-0.07, 0.0, 0.0], HOME_ROT, CLOSED, tol=0.02)
    yield from go(arm, s + [0.40, 0.0, 0.0], HOME_ROT, CLOSED, tol=0.02, steps=25,
                  until=lambda: scene.joint("slide_cabinet") > 0.25)
    yield from retreat(arm, HOME_ROT, CLOSED)


def knob(site: str, joint: str):
    """Grip an oven knob and turn it by a wrist rotation about the knob's own axis (the approach axis)."""

    def script(arm: Arm, scene: Scene) -> Script:
        # The knob's bar sits between the finger pads, which reach a few centimetres past the site.
        s = scene.site(site) + [0.0, -0.03, 0.0]
        yield from go(arm, s + [0.0, -0.06, 0.0], HOME_ROT, OPEN, tol=0.03)
        yield from go(arm, s, HOME_ROT, OPEN, tol=0.012, speed=0.03, steps=15)
        yield from hold(arm, HOME_ROT, CLOSED, 3, pos=s)
        turned = rot_y(1.1) @ HOME_ROT
        for _ in range(14):
            if scene.joint(joint) < -0.8:
                break
            yield Target(s, turned, CLOSED)
        yield from hold(arm, turned, OPEN, 2, pos=s)
        yield from retreat(arm, turned, OPEN)

    return script


def door(site: str, joint: str, direction: float, until: float, rot: np.ndarray, height: float | None = None):
    """Grip a door's vertical handle and pull it round the hinge, each step a little further along the
    arc from where the handle is now, until the door's angle passes `until`."""

    def script(arm: Arm, scene: Scene) -> Script:
        def handle() -> np.ndarray:
            h = scene.site(site)
            if height is not None:
                h[2] = height
            return h

        h = handle()
        yield from go(arm, h - 0.10 * rot[:, 2], rot, OPEN, tol=0.03)
        yield from go(arm, h, rot, OPEN, tol=0.012, speed=0.03, steps=15)
        yield from hold(arm, rot, CLOSED, 4, pos=h)
        hinge = scene.anchor(joint)
        for _ in range(60):
            if direction * (scene.joint(joint) - until) > 0:
                break
            yield Target(hinge + rot_z(direction * 0.2) @ (handle() - hinge), rot, CLOSED)
        yield from hold(arm, rot, OPEN, 3)
        yield from retreat(arm, rot, OPEN)

    return script


def kettle(arm: Arm, scene: Scene) -> Script:
    """Grip the kettle's handle from above and behind, lift it a little, carry it slowly (a fast carry
    swings it round in the grip) to the top left burner and set it down."""
    rot = rot_x(-0.8) @ rot_y(np.pi / 2) @ HOME_ROT  # fingers close on the bar from front and back
    approach = rot[:, 2]
    grip = scene.site("kettle_site") - 0.02 * approach
    yield from go(arm, grip - 0.10 * approach, rot, OPEN, tol=0.015)
    yield from go(arm, grip, rot, OPEN, tol=0.01, speed=0.02, steps=15)
    yield from hold(arm, rot, CLOSED, 5, pos=grip)
    offset = arm.pos - scene.body("kettleroot")
    goal = np.array(KETTLE_GOAL) + offset
    yield from go(arm, arm.pos + [0.0, 0.0, 0.04], rot, CLOSED, tol=0.02, speed=CARRY_SPEED)
    yield from go(arm, goal + [0.0, 0.0, 0.04], rot, CLOSED, tol=0.02, steps=60, speed=CARRY_SPEED)
    yield from go(arm, goal + [0.0, 0.0, 0.01], rot, CLOSED, tol=0.015, speed=CARRY_SPEED)
    yield from hold(arm, rot, OPEN, 3)
    yield from retreat(arm, rot, OPEN, 0.14)
    yield from unfold(arm)


def unfold(arm: Arm, steps: int = 20) -> Script:
    """Bring the arm back to NEUTRAL_Q in joint space."""
    for _ in range(steps):
        if np.abs(arm.data.qpos[:ARM] - NEUTRAL_Q).max() < 0.15:
            return
        yield Target(arm.pos, HOME_ROT, OPEN, joints=NEUTRAL_Q)


def retreat(arm: Arm, rot: np.ndarray, grip: float, distance: float = 0.08) -> Script:
    """Back away along the approach axis, clear of the object just handled."""
    yield from go(arm, arm.pos - distance * rot[:, 2], rot, grip, tol=0.02, steps=8)


# The microwave handle is low: the gripper reaches it pointing down and forward.
_LOW = rot_x(-0.8) @ HOME_ROT
SCRIPTS = {
    "bottom_burner": knob("knob2_site", "knob_Joint_2"),
    "top_burner": knob("knob4_site", "knob_Joint_4"),
    "light_switch": light_switch,
    "slide_cabinet": slide_cabinet,
    "hinge_cabinet": door("hinge_site2", "right_hinge_cabinet", 1.0, 1.5, HOME_ROT),
    "microwave": door("microhandle_site", "microwave", -1.0, -0.7, _LOW, height=1.85),
    "kettle": kettle,
}
# Subtasks that must come before others if both are planned: the open hinge door blocks the way to
# the slide cabinet's handle.
_BEFORE = {"slide_cabinet": ("hinge_cabinet",)}


FREE_MOVE_PROB = 0.3  # chance of a free move before a subtask (a pause always comes first)
# Fewest subtasks an episode plans: with fewer, most of a 280-step episode would be idle wandering.
MIN_PLAN = 3


class KitchenPlayer:
    """Scripted free play in the kitchen: `reset(env)` after each reset, `act(obs, info) -> action`.

    Each episode does a random number (MIN_PLAN to 7) of the subtasks in a random order (all of
    `subtasks` when given), with a free move and a pause before each and up to `attempts` tries each; then
    it idles. `subtasks` fixes which ones (for measuring the player, never for collecting)."""

    name = "scripted"

    def __init__(self, seed: int, action_noise: float = 0.05, subtasks: tuple[str, ...] | None = None,
                 attempts: int = 3, max_pause: int = 4):
        unknown = [s for s in subtasks or () if s not in SCRIPTS]
        if unknown:
            raise ValueError(f"unknown kitchen subtask(s) {unknown}; valid: {', '.join(SCRIPTS)}")
        self._rng = np.random.default_rng(seed)
        self.action_noise = action_noise
        self.subtasks = subtasks
        self.attempts = attempts
        self.max_pause = max_pause
        self.plan: list[str] = []
        self.last_noise = False  # every action carries a little noise; none is a random action instead

    def reset(self, env) -> None:
        self.arm = Arm(env.model, env.data)
        self.scene = Scene(env.model, env.data)
        names = list(self.subtasks) if self.subtasks is not None else list(SCRIPTS)
        order = [names[i] for i in self._rng.permutation(len(names))]
        if self.subtasks is None:
            order = order[: self._rng.integers(MIN_PLAN, len(order) + 1)]
        for later, earlier in _BEFORE.items():
            for e in earlier:
                if later in order and e in order and order.index(e) < order.index(later):
                    order.remove(later)
                    order.insert(order.index(e), later)
        self.plan = order
        self._script = self._play()

    def act(self, obs, info) -> np.ndarray:
        target = next(self._script)
        action = self.arm.action(target)
        action[:ARM] += self.action_noise * self._rng.standard_normal(ARM)
        return np.clip(action, -1.0, 1.0).astype(np.float32)

    def _done(self, name: str) -> bool:
        return bool(completed(self.arm.data.qpos)[KITCHEN_SPEC.achievements.index(name)])

    def _play(self) -> Script:
        for name in self.plan:
            for _ in range(self.attempts):
                if self._done(name):
                    break
                yield from self._wander()
                yield from SCRIPTS[name](self.arm, self.scene)
        while True:  # the plan is done: idle (at least one step per round, so the loop always yields)
            yield from self._wander()
            yield from hold(self.arm, HOME_ROT, OPEN, 1)

    def _wander(self) -> Script:
        """A pause, and sometimes a free move to a random point in front of the robot."""
        rng = self._rng
        yield from hold(self.arm, HOME_ROT, OPEN, int(rng.integers(0, self.max_pause + 1)))
        if rng.random() < FREE_MOVE_PROB:
            point = rng.uniform([-0.5, 0.15, 1.95], [-0.1, 0.35, 2.3])
            yield from go(self.arm, point, HOME_ROT, OPEN, tol=0.05, steps=15)
