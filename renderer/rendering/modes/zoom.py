"""Zoom mode: each frame starts from the last dreamed frame, zoomed into its centre.

Pure numpy/OpenCV: the frame loop runs the dream; this module only says where each
frame's dream starts. Frame 0 is seeded noise or the input image (modes/source.py).

Seamless loops (``zoom.loop = k``): frame i+1 is dream(warp(frame i)), so the frame after
the last is never the first. The mode dreams the plain chain c[0..n+k-1] (n = frames) and
the MP4/GIF play c[k..n+k-1], whose last k frames cross-fade into c[0..k-1]: the stored
(and shown) frame n+j is (1 - w_j) c[n+j] + w_j c[j], w_j = smoothstep((j+1)/(k+1)).
c[n+j] and c[j] are each one camera step after their predecessors, so the motion stays
consistent through the fade, and after the last played frame (mostly c[k-1]) comes c[k],
the first played one: one regular step. frames/ keeps c[0..k-1] as a lead-in the MP4/GIF
skip (manifest "lead_in"); the chain goes on from the unblended c[n+j], kept in the blended
frame's checkpoint for a resume.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from ...media.images import to_uint8
from ...runtime.errors import DreamreelError
from ...schedules.keyframe_parser import constant
from ...schedules.keyframes import Schedule
from .base import FrameOut, FrameStart, ModeBase, check_cadence, register
from .source import frame_shape, octave_notes, source_image

if TYPE_CHECKING:
    from ..spec import RenderSpec


@dataclass(frozen=True)
class ZoomSettings:
    """The ``zoom`` table: how each frame moves from the last (all per-frame schedules)."""

    scale: Schedule = constant(1.04)  # zoom factor per frame; > 1 flies in
    rotation: Schedule = constant(0.0)  # degrees per frame, counter-clockwise
    translate_x: Schedule = constant(0.0)  # pixels per frame, + moves the view right
    translate_y: Schedule = constant(0.0)  # pixels per frame, + moves the view down
    noise: Schedule = constant(0.0)  # std of gaussian noise added (0..255 scale)
    first_steps: int = 40  # frame 0 is dreamed harder to grow structure
    first_octaves: int = 4
    color_coherence: bool = True  # match colour statistics to frame 0
    # Cadence, as Deforum users know it: dream every cadence-th frame (0, k, 2k...) with
    # the full dream.steps; each frame between is the previous frame moved by the camera
    # (and recoloured) with between_steps steps (0: the camera move alone). About cadence
    # times fewer gradient steps: for previews. zoom.noise feeds only frames that dream.
    cadence: int = 1
    between_steps: int = 0
    # A seamless loop: the last `loop` frames cross-fade into the chain's first frames,
    # which are dreamed as a lead-in the MP4/GIF skip (see the module docstring). 0: none.
    loop: int = 0

    def check(self, prefix: str) -> None:
        if self.loop < 0:
            raise DreamreelError(
                f"{prefix}loop must be >= 0 (0: no loop; k: the last k "
                f"frames cross-fade into the first), got {self.loop}"
            )
        check_cadence(prefix, self.cadence, self.between_steps, "the camera move alone")
        if min(v for _, v in self.scale.keyframes) <= 0:
            raise DreamreelError(f"{prefix}scale must be > 0 (1.0 is still, > 1 zooms in)")
        if min(v for _, v in self.noise.keyframes) < 0:
            raise DreamreelError(f"{prefix}noise must be >= 0")
        if self.first_steps < 0 or self.first_octaves < 1:
            raise DreamreelError(f"{prefix}first_steps must be >= 0 and {prefix}first_octaves >= 1")


@dataclass(frozen=True)
class Motion:
    """One frame's camera move relative to the previous frame."""

    scale: float = 1.0  # > 1 flies in
    rotation: float = 0.0  # degrees, counter-clockwise
    translate_x: float = 0.0  # pixels; + moves the view right (content slides left)
    translate_y: float = 0.0  # pixels; + moves the view down
    noise: float = 0.0  # std of gaussian noise added, 0..255 scale

    @classmethod
    def at(cls, spec: RenderSpec, frame: int) -> Motion:
        zoom = spec.zoom
        return cls(
            zoom.scale(frame),
            zoom.rotation(frame),
            zoom.translate_x(frame),
            zoom.translate_y(frame),
            zoom.noise(frame),
        )


def warp(image: np.ndarray, motion: Motion) -> np.ndarray:
    """One affine warp about the centre: zoom, rotate, translate.

    Lanczos keeps the zoomed detail crisp over hundreds of frames; reflected borders
    fill what rotation or translation uncovers, so no black edges creep in.
    """
    height, width = image.shape[:2]
    centre = ((width - 1) / 2.0, (height - 1) / 2.0)
    matrix = cv2.getRotationMatrix2D(centre, motion.rotation, motion.scale)
    matrix[:, 2] -= (motion.translate_x, motion.translate_y)
    return cv2.warpAffine(
        np.asarray(image, np.float32),
        matrix,
        (width, height),
        flags=cv2.INTER_LANCZOS4,
        borderMode=cv2.BORDER_REFLECT_101,
    )


def add_noise(image: np.ndarray, amount: float, seed: int) -> np.ndarray:
    if amount <= 0:
        return image
    rng = np.random.default_rng(seed)
    return image + rng.normal(0.0, amount, image.shape).astype(np.float32)


def match_colours(image: np.ndarray, reference: np.ndarray | ColourStats) -> np.ndarray:
    """Per-channel mean and std in Lab moved to the reference's (Reinhard's transfer).

    Repeated zoom-and-dream drifts towards grey or oversaturation; pulling every
    start image back to frame 0's colour statistics keeps a long zoom's palette.
    ``reference``: an RGB image, or its ColourStats (frame 0's, computed once a render).
    """
    lab = _to_lab(image)
    mean, std = _lab_stats(lab)
    ref = reference if isinstance(reference, ColourStats) else ColourStats.of(reference)
    # (lab - mean) / std * ref.std + ref.mean as one per-channel affine map: OpenCV does
    # it in one pass, 0.05 ms against numpy's 4 ms of temporaries at 384 px.
    gain = ref.std / np.maximum(std, 1e-6)
    matrix = np.hstack([np.diag(gain), (ref.mean - mean * gain)[:, None]])
    matched = cv2.transform(lab, matrix)
    rgb = cv2.cvtColor(matched, cv2.COLOR_Lab2RGB) * 255.0
    return clip_float32(rgb, 255.0)


@dataclass(frozen=True)
class ColourStats:
    """An image's per-channel Lab mean and standard deviation."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def of(cls, rgb: np.ndarray) -> ColourStats:
        return cls(*_lab_stats(_to_lab(rgb)))


def clip_float32(image: np.ndarray, high: float) -> np.ndarray:
    """``np.clip(image, 0, high)`` for float32 images, 30x faster: numpy's clip crawled
    (1.4 ms at 384 px) over the near-zero values Lab -> RGB leaves in dark pixels."""
    image = np.asarray(image, np.float32)
    under_high = cv2.threshold(image, high, high, cv2.THRESH_TRUNC)[1]
    return cv2.threshold(under_high, 0.0, 0.0, cv2.THRESH_TOZERO)[1].reshape(image.shape)


def _lab_stats(lab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # OpenCV's one pass in double: 40x faster than numpy's mean and std over two axes,
    # which took most of a 384 px zoom frame's carry (7 ms each).
    mean, std = cv2.meanStdDev(lab)
    return mean.ravel().astype(np.float32), std.ravel().astype(np.float32)


def _to_lab(rgb: np.ndarray) -> np.ndarray:
    unit = clip_float32(np.asarray(rgb, np.float32) / 255.0, 1.0)
    return cv2.cvtColor(unit, cv2.COLOR_RGB2Lab)


def next_init(
    spec: RenderSpec,
    previous: np.ndarray,
    reference: np.ndarray | ColourStats,
    frame: int,
    seed: int,
    *,
    noise: bool = True,
) -> np.ndarray:
    """Where frame ``frame`` (>= 1) starts: the previous frame moved, noised, recoloured.

    ``noise=False`` leaves the noise out: a frame that is not dreamed (a cadence frame
    with no steps) would show it as grain, and pass it on to the next frames.
    """
    moved = warp(previous, Motion.at(spec, frame))
    if noise:
        moved = add_noise(moved, spec.zoom.noise(frame), seed)
    if spec.zoom.color_coherence:
        moved = match_colours(moved, reference)
    return clip_float32(moved, 255.0)


def loop_weights(loop: int) -> list[float]:
    """How much of chain frame j the stored frame n+j shows, j = 0..loop-1: smoothstep
    of (j+1)/(loop+1), rising from near 0 to near 1, gentlest at both ends of the fade."""
    steps = [(j + 1) / (loop + 1) for j in range(loop)]
    return [x * x * (3.0 - 2.0 * x) for x in steps]


def cross_fade(chain: np.ndarray, first: np.ndarray, weight: float) -> np.ndarray:
    """(1 - weight) * chain + weight * first, both RGB uint8, rounded back to uint8."""
    return np.rint(mixed(chain, first, weight)).astype(np.uint8)


def mixed(chain: np.ndarray, first: np.ndarray, weight: float) -> np.ndarray:
    """(1 - weight) * chain + weight * first as float32 (chain may be float)."""
    return np.asarray(chain, np.float32) * np.float32(1.0 - weight) + np.asarray(
        first, np.float32
    ) * np.float32(weight)


@register
class ZoomMode(ModeBase):
    """The zoom animation: each frame starts from the last one, moved by the camera."""

    name = "zoom"
    columns = ("zoom", "rotation", "keyframe")
    settings = {"zoom": ZoomSettings}

    @classmethod
    def check(cls, spec: RenderSpec) -> None:
        loop = spec.zoom.loop
        if not loop:
            return
        if loop > spec.frames - 1:
            raise DreamreelError(
                f"zoom.loop must be <= frames - 1 (the last loop frames "
                f"fade into the loop's first ones), got zoom.loop = {loop} "
                f"with frames = {spec.frames}"
            )
        if spec.output.pingpong:
            raise DreamreelError(
                "zoom.loop and output.pingpong do not go together (a loop "
                "plays forward only): set one of them off"
            )
        if spec.output.hold_last > 0:
            raise DreamreelError(
                f"zoom.loop needs output.hold_last = 0 (a held last frame "
                f"breaks the loop), got {spec.output.hold_last:g}"
            )

    @classmethod
    def identity(cls, spec: RenderSpec) -> dict:
        """With a loop, ``frames`` decides which stored frames are cross-faded: it stays
        in (without one, a longer ``frames`` extends a finished zoom)."""
        data = super().identity(spec)
        if spec.zoom.loop:
            data["frames"] = spec.frames
        return data

    def __init__(self, spec: RenderSpec):
        self.spec = spec
        self.loop = spec.zoom.loop
        self.played = spec.frames  # frames the MP4/GIF play
        self.count = spec.frames + self.loop  # stored: the lead-in, then the played ones
        self.weights = loop_weights(self.loop)
        self.fps = spec.fps
        self.reference: ColourStats | None = None  # frame 0's colours, for coherence
        self.previous: np.ndarray | None = None  # the last chain frame (never a blend)
        # Chain frames 0..loop-1 until the frame that fades into them: at most loop frames.
        self.lead: dict[int, np.ndarray] = {}
        # The frame size from the input's header (decoded only at frame 0): checked now.
        self.height, self.width = frame_shape(spec)

    def notes(self) -> list[str]:
        notes = octave_notes(
            self.spec, self.height, self.width, self.spec.zoom.first_octaves, "zoom.first_octaves"
        )
        cadence = self.spec.zoom.cadence
        if self.loop and self.played % cadence:
            notes.append(
                f"zoom.loop with zoom.cadence = {cadence}: frames = {self.played} "
                f"is no multiple of the cadence, so the keyframes' rhythm skips a "
                f"beat where the loop wraps"
            )
        return notes

    def manifest(self) -> dict:
        if not self.loop:
            return {}
        first, last = self.played, self.count - 1
        return {
            "lead_in": self.loop,  # stored frames before the played ones: stitch skips them
            "loop": {
                "frames": self.played,
                "lead_in": self.loop,
                "blended": f"frames {first + 1:06d}.png to {last + 1:06d}.png",
                "weights": [round(w, 6) for w in self.weights],
            },
        }

    def resume(self, done: int, store) -> int:
        """Pick up after ``done`` stored frames: frame 0, the last chain frame (a blended
        frame's checkpoint holds it) and the lead-in frames still to fade into."""
        if done == 0 or done == self.count:  # nothing to dream: nothing to pick up
            return done
        self.reference = ColourStats.of(store.read_frame(0))
        first = done
        if done - 1 >= self.played:  # a blend is stored: its chain frame is the checkpoint
            saved = store.read_checkpoint(done - 1) or {}
            chain = saved.get("chain")
            if (
                chain is None
                or chain.dtype != np.uint8
                or chain.shape != (self.height, self.width, 3)
            ):
                first = self.played  # dream the tail again from the last plain frame
            else:
                self.previous = chain
        if first <= self.played:
            self.previous = store.read_frame(first - 1)
        for j in range(min(self.loop, first)):
            if self.played + j >= first:
                self.lead[j] = store.read_frame(j)
        return first

    def start(self, index: int, seed: int, ready=None) -> FrameStart:
        motion = Motion.at(self.spec, index)
        # A keyframe by its index alone: a resumed render decides the same.
        between = index % self.spec.zoom.cadence != 0
        log = {
            "zoom": round(motion.scale, 6),
            "rotation": round(motion.rotation, 6),
            "keyframe": int(not between),
        }
        if index == 0:
            # Noise has no detail worth keeping: its grain would return at every octave.
            settings = {
                "steps": self.spec.zoom.first_steps,
                "octaves": self.spec.zoom.first_octaves,
                "keep_source_detail": self.spec.dream.keep_source_detail
                and self.spec.input is not None,
            }
            return FrameStart(source_image(self.spec), settings, log)
        if between:
            steps = self.spec.zoom.between_steps
            with self.clock.stage("carry"):  # warp and colour match
                start = next_init(
                    self.spec, self.previous, self.reference, index, seed, noise=steps > 0
                )
            # With no steps, one octave: the frame is its start (see between_settings).
            settings = {"steps": steps, "octaves": 1} if steps == 0 else {"steps": steps}
            return FrameStart(start, settings, log)
        with self.clock.stage("carry"):  # warp, noise and colour match
            start = next_init(self.spec, self.previous, self.reference, index, seed)
        return FrameStart(start, log=log)

    def finish(self, index: int, result) -> FrameOut:
        frame = to_uint8(result.image)
        self.previous = frame  # frames chain through the stored uint8 picture
        if self.reference is None:
            self.reference = ColourStats.of(frame)
        if index < self.loop:
            self.lead[index] = frame
        if index < self.played:
            return FrameOut(frame, exact=result.image)
        j = index - self.played  # the loop's fade: shown blended, chained unblended
        first, weight = self.lead.pop(j), self.weights[j]
        shown = cross_fade(frame, first, weight)
        exact = mixed(result.image, first, weight)  # the dream's floats, faded the same
        return FrameOut(shown, checkpoint={"chain": frame}, exact=exact)
