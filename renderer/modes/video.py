"""Video mode: dream over a clip, carrying the last frame's dream along the optical flow.

Each frame starts from its raw frame plus the previous frame's dream residual
(dream - raw) warped onto it by backward optical flow, weighted by ``video.blend`` and by
the occlusion mask: where the flow is unreliable (occluded, uncovered, from outside the
image) the raw frame shows through, so nothing smears and no ghost lingers. The blend
below 1 lets old dream fade instead of building up brightness frame after frame.
A scene cut (flow collapses or histograms jump) starts afresh from the raw frame.
With ``video.cadence = k`` only every k-th frame (a keyframe) dreams; the frames between
are carried along the flow (Deforum's cadence: previews in about 1/k of the time).
Pure numpy/OpenCV: the frame loop runs the dream.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import DreamreelError, one_of
from ..flow import (DIS_PRESETS, FLOW_METHODS, FlowEstimator, StabilityMeter, backward_warp,
                    flow_pair, is_scene_cut, occlusion_mask, to_gray)
from ..media.images import to_uint8
from ..media import open_video
from ..schedule import Schedule, constant
from ..stage_clock import NULL_CLOCK
from . import FrameOut, FrameStart, ModeBase, ModeSummary, register

if TYPE_CHECKING:
    from ..spec import RenderSpec

BLEND_MODES = ("residual", "full")  # residual: warp (dream - raw); full: warp the dream


@dataclass(frozen=True)
class VideoSettings:
    """The ``video`` table: which part of the clip, and how frames carry the dream."""

    start: float | None = None        # seconds into the clip
    end: float | None = None
    start_frame: int | None = None    # or a frame range (end exclusive)
    end_frame: int | None = None
    every: int = 1                    # keep every n-th frame (fps divides by n)
    max_size: int | None = None       # long side at most this (aspect kept, even sizes)
    blend: Schedule = constant(0.9)   # how much of the last frame's dream carries over
    blend_mode: str = "residual"      # residual: warp (dream - raw); full: warp the dream
    first_steps: int = 20             # the first frame and frames after a cut dream fully
    first_octaves: int = 3
    audio: bool = True                # mux the clip's sound into the MP4
    # Cadence, as Deforum users know it: dream every cadence-th frame (a keyframe) with
    # the full dream.steps; the frames between only carry the dream along the flow, with
    # between_steps steps on top (0: the carried frame is the output). Frames 0, k, 2k...
    # are keyframes, and so is every first frame and frame after a cut. About cadence
    # times fewer gradient steps: for previews. blend fades the dream once a keyframe,
    # not once a frame, so the dream keeps its strength between keyframes.
    cadence: int = 1
    between_steps: int = 0
    # A carried keyframe dreams with dream.step_size times this: it stands in for the
    # frames between, which add no dream while the flow's unreliable pixels drop some.
    # Unset: sqrt(cadence), which kept dream strength and added flicker level with
    # cadence 1 on a real clip (benchmarks/RESULTS.md; 1 left 0.7x the strength, 2 added
    # 1.4x the flicker). 1 (or cadence 1) leaves the steps as they are.
    keyframe_step_scale: float | None = None

    def check(self, prefix: str) -> None:
        if self.every < 1 or self.first_steps < 0 or self.first_octaves < 1:
            raise DreamreelError(f"{prefix}every and {prefix}first_octaves must be >= 1, "
                                 f"{prefix}first_steps >= 0")
        if self.cadence < 1 or self.between_steps < 0:
            raise DreamreelError(f"{prefix}cadence must be >= 1 (1 dreams every frame) and "
                                 f"{prefix}between_steps >= 0 (0: frames between keyframes "
                                 f"are the carried dream only)")
        if self.keyframe_step_scale is not None and not self.keyframe_step_scale > 0:
            raise DreamreelError(f"{prefix}keyframe_step_scale must be > 0")
        one_of(prefix + "blend_mode", self.blend_mode, BLEND_MODES)
        if not all(0.0 <= v <= 1.0 for _, v in self.blend.keyframes):
            raise DreamreelError(f"{prefix}blend must stay between 0 and 1")

    def step_scale(self) -> float:
        """What a carried keyframe's step_size is multiplied by (1 without cadence)."""
        if self.cadence == 1:
            return 1.0
        if self.keyframe_step_scale is None:
            return self.cadence ** 0.5
        return float(self.keyframe_step_scale)


@dataclass(frozen=True)
class FlowSettings:
    """The ``flow`` table: optical flow on the raw frames (OpenCV)."""

    enabled: bool = True              # off: every frame dreamed alone (the flicker baseline)
    method: str = "dis"               # dis or farneback
    preset: str = "medium"            # DIS: ultrafast, fast, medium
    cut_min_reliable: float = 0.4     # a cut when less of the frame has a reliable flow
    cut_hist_threshold: float = 0.5   # ... or grey histograms jump more than this

    def check(self, prefix: str) -> None:
        one_of(prefix + "method", self.method, FLOW_METHODS)
        one_of(prefix + "preset", self.preset, DIS_PRESETS)


@dataclass(frozen=True)
class Carry:
    """How one frame starts."""

    image: np.ndarray       # RGB float32 0..255
    fresh: bool             # no dream carried: first frame, cut, or flow off
    cut: bool = False
    reliable: float = 1.0   # share of pixels whose flow passed the consistency check
    flows: tuple[np.ndarray, np.ndarray] | None = None  # (backward, forward), if computed


def carry_dream(spec: RenderSpec, estimator: FlowEstimator | None, frame: int, raw: np.ndarray,
                previous_raw: np.ndarray | None, previous_dream: np.ndarray | None, *,
                fade: bool = True, clock=NULL_CLOCK) -> Carry:
    """Frame ``frame``'s start image from its raw frame and the previous dreamed frame.

    ``fade=False`` carries the whole dream (blend 1, the occlusion mask still applies):
    frames between cadence keyframes add no dream, so fading them too would thin the
    dream by blend**cadence a keyframe instead of by blend.
    """
    raw_f = raw.astype(np.float32)
    if estimator is None or previous_raw is None or previous_dream is None:
        return Carry(raw_f, fresh=True)
    with clock.stage("flow"):  # the raw frames' flow, where it holds, and cuts
        gray_prev, gray_cur = to_gray(previous_raw), to_gray(raw)
        backward, forward = flow_pair(estimator, gray_prev, gray_cur)
        mask = occlusion_mask(backward, forward)
        flow = spec.flow
        cut = is_scene_cut(gray_prev, gray_cur, mask, min_reliable=flow.cut_min_reliable,
                           hist_threshold=flow.cut_hist_threshold)
    flows = (backward, forward)
    if cut:
        return Carry(raw_f, fresh=True, cut=True, reliable=float(mask.mean()), flows=flows)
    weight = ((spec.video.blend(frame) if fade else 1.0) * mask)[..., None]
    if spec.video.blend_mode == "residual":
        residual = previous_dream.astype(np.float32) - previous_raw.astype(np.float32)
        start = raw_f + weight * backward_warp(residual, backward)
    else:
        warped = backward_warp(previous_dream.astype(np.float32), backward)
        start = weight * warped + (1.0 - weight) * raw_f
    return Carry(np.clip(start, 0.0, 255.0), fresh=False, reliable=float(mask.mean()),
                 flows=flows)


def between_settings(steps: int) -> dict:
    """Dream settings of a frame between cadence keyframes: ``steps`` steps; with none,
    one octave too, so the frame is its start image (0 steps over octaves would still
    measure a loss per octave, and without keep_source_detail blur the start)."""
    return {"steps": steps, "octaves": 1} if steps == 0 else {"steps": steps}


@register
class VideoMode(ModeBase):
    """A clip, frame by frame, each frame carrying the last one's dream along the flow."""

    name = "video"
    columns = ("cut", "reliable", "keyframe")
    settings = {"video": VideoSettings, "flow": FlowSettings}

    @classmethod
    def check(cls, spec: RenderSpec) -> None:
        if not spec.input:
            raise DreamreelError("video mode needs an input clip: --input CLIP (a video file "
                                 "or a folder of numbered frames)")

    def __init__(self, spec: RenderSpec):
        self.spec = spec
        v = spec.video
        self.source = open_video(spec.input, start=v.start, end=v.end,
                                 start_frame=v.start_frame, end_frame=v.end_frame,
                                 every=v.every, max_size=v.max_size, folder_fps=spec.fps)
        self.count = self.source.frame_count
        self.fps = self.source.fps
        self.estimator = (FlowEstimator(spec.flow.method, spec.flow.preset)
                          if spec.flow.enabled else None)
        self._raws = None
        self.raw = self.previous_raw = self.previous_dream = None
        # A render from frame 0 measures its stability as it goes, reusing the carry's
        # flows; a resumed one never saw the earlier frames and measures at the end.
        self._meter: StabilityMeter | None = None
        self._flows = None

    def release(self) -> None:
        self.source.close()

    def resume(self, done: int, store) -> int:
        """Stream raw frames from ``done - 1`` on; the dream chain restarts from disk."""
        with self.clock.stage("decode"):
            self._raws = self.source.frames(first=max(0, done - 1))
            self.previous_raw = next(self._raws) if done > 0 else None
        if done > 0:
            self.previous_dream = store.read_frame(done - 1)
        else:
            self._meter = StabilityMeter(self.fps, self.estimator or self._report_estimator())
        return done

    def _report_estimator(self) -> FlowEstimator:
        return FlowEstimator(self.spec.flow.method, self.spec.flow.preset)

    def start(self, index: int, seed: int) -> FrameStart:
        with self.clock.stage("decode"):
            self.raw = next(self._raws)
        # A keyframe by its index alone (and by a cut, which the raw frames decide): a
        # resumed render decides the same, whatever it stored before.
        between = index % self.spec.video.cadence != 0
        with self.clock.stage("carry"):  # the warp and blend (carry_dream times its flow)
            carry = carry_dream(self.spec, self.estimator, index, self.raw, self.previous_raw,
                                self.previous_dream, fade=not between, clock=self.clock)
        self._flows = carry.flows
        if carry.fresh:
            settings = {"steps": self.spec.video.first_steps,
                        "octaves": self.spec.video.first_octaves}
        elif between:
            settings = between_settings(self.spec.video.between_steps)
        elif self.spec.video.step_scale() != 1.0:
            step_size = self.spec.dream_settings(index).step_size  # its schedule, this frame
            settings = {"step_size": step_size * self.spec.video.step_scale()}
        else:
            settings = {}
        log = {"cut": int(carry.cut), "reliable": round(carry.reliable, 4),
               "keyframe": int(carry.fresh or not between)}
        return FrameStart(carry.image, settings, log)

    def finish(self, index: int, result) -> FrameOut:
        frame = to_uint8(result.image)
        if self._meter is not None:
            with self.clock.stage("stability"):
                self._meter.add(self.raw, frame, flows=self._flows)
        self.previous_raw, self.previous_dream = self.raw, frame
        return FrameOut(frame)

    def audio(self):
        """The clip's sound from the range's start (an AudioSource), or None."""
        return self.source.audio if self.spec.video.audio else None

    def manifest(self) -> dict:
        audio = self.audio()  # the frame loop records fps for every mode
        return {"audio": audio.to_dict() if audio else None}

    def close(self, store) -> ModeSummary:
        """The temporal stability report of the stored frames against the raw clip.

        A render that ran from frame 0 measured it frame by frame; a resumed one never saw
        the earlier frames' flow, so the clip is read and its flow computed again here.
        """
        meter = self._meter
        if meter is None or meter.frames != self.count:
            with self.clock.stage("stability"):  # decoding the clip again included
                meter = StabilityMeter(self.fps, self._report_estimator())
                for index, raw in zip(range(self.count), self.source.frames()):
                    meter.add(raw, store.read_frame(index))
        stability = meter.report()
        report = {"summary": stability.summary_line(), **stability.to_dict()}
        report["cuts"] = [int(r["frame"]) for r in store.rows() if int(r.get("cut", 0))]
        return ModeSummary(report)
