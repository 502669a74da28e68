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
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from ...imaging.flow import (
    DIS_PRESETS,
    FLOW_METHODS,
    FlowEstimator,
    backward_warp,
    flow_pair,
    is_scene_cut,
    occlusion_mask,
    to_gray,
)
from ...imaging.stability import FrameTerms, StabilityMeter, measure_frame
from ...media.images import to_uint8
from ...media.limits import check_frame_side
from ...media.truncated_input import InputEnded
from ...runtime.errors import DreamreelError, one_of
from ...schedules.keyframe_parser import constant
from ...schedules.keyframes import Schedule
from ..stage_clock import NULL_CLOCK
from .base import FrameOut, FrameStart, ModeBase, ModeSummary, register
from .source import octave_notes, open_render_clip

if TYPE_CHECKING:
    from ..spec import RenderSpec

BLEND_MODES = ("residual", "full")  # residual: warp (dream - raw); full: warp the dream
ALLOW_PARTIAL_KEY = "video.allow_partial"


@dataclass(frozen=True)
class VideoSettings:
    """The ``video`` table: which part of the clip, and how frames carry the dream."""

    start: float | None = None  # seconds into the clip
    end: float | None = None
    start_frame: int | None = None  # or a frame range (end exclusive)
    end_frame: int | None = None
    every: int = 1  # keep every n-th frame (fps divides by n)
    max_size: int | None = None  # long side at most this (aspect kept, even sizes)
    blend: Schedule = constant(0.9)  # how much of the last frame's dream carries over
    blend_mode: str = "residual"  # residual: warp (dream - raw); full: warp the dream
    first_steps: int = 20  # the first frame and frames after a cut dream fully
    first_octaves: int = 3
    audio: bool = True  # mux the clip's sound into the MP4
    # A clip that cannot be decoded to the end of its range (damaged, truncated): true
    # stitches the frames before the damage into a shorter video (report.json says where
    # it stopped); false, the default, keeps them but ends the render with an error.
    allow_partial: bool = False
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
    # Chunked renders (--ray, --chunks; renderer/distributed/chunk_plan.py): each chunk dreams
    # warmup
    # frames before its first shown one, and crossfade frames overlap the chunk before.
    # chunks: how many (0: one per worker, none too short). A plain render ignores them.
    # 8 cross-faded frames kept a seam's flicker at 1.14x the rest on a 320x180 pan with
    # video-quick (4 frames: 1.53x); 16 warm-up frames brought the strength to 0.98x.
    warmup: int = 16
    crossfade: int = 8
    chunks: int = 0

    def check(self, prefix: str) -> None:
        check_chunk_settings(self.warmup, self.crossfade, self.chunks, prefix)
        if self.every < 1 or self.first_steps < 0 or self.first_octaves < 1:
            raise DreamreelError(
                f"{prefix}every and {prefix}first_octaves must be >= 1, {prefix}first_steps >= 0"
            )
        if self.cadence < 1 or self.between_steps < 0:
            raise DreamreelError(
                f"{prefix}cadence must be >= 1 (1 dreams every frame) and "
                f"{prefix}between_steps >= 0 (0: frames between keyframes "
                f"are the carried dream only)"
            )
        if self.keyframe_step_scale is not None and not self.keyframe_step_scale > 0:
            raise DreamreelError(f"{prefix}keyframe_step_scale must be > 0")
        one_of(prefix + "blend_mode", self.blend_mode, BLEND_MODES)
        seconds = [k for k in ("start", "end") if getattr(self, k) is not None]
        frames = [k for k in ("start_frame", "end_frame") if getattr(self, k) is not None]
        if seconds and frames:  # often a preset's end plus the user's end_frame
            clear = " ".join(f"--set {prefix}{k}=" for k in seconds)
            raise DreamreelError(
                f"{prefix}{' and '.join(seconds)} (seconds) and {prefix}{' and '.join(frames)} "
                f"(frames) both set: give the range one way; clear the seconds with {clear} "
                f"(or the frames with --set {prefix}{frames[0]}=)"
            )
        if not all(0.0 <= v <= 1.0 for _, v in self.blend.keyframes):
            raise DreamreelError(f"{prefix}blend must stay between 0 and 1")

    def step_scale(self) -> float:
        """What a carried keyframe's step_size is multiplied by (1 without cadence)."""
        if self.cadence == 1:
            return 1.0
        if self.keyframe_step_scale is None:
            return self.cadence**0.5
        return float(self.keyframe_step_scale)


@dataclass(frozen=True)
class FlowSettings:
    """The ``flow`` table: optical flow on the raw frames (OpenCV)."""

    enabled: bool = True  # off: every frame dreamed alone (the flicker baseline)
    method: str = "dis"  # dis or farneback
    preset: str = "medium"  # DIS: ultrafast, fast, medium
    cut_min_reliable: float = 0.4  # a cut when less of the frame has a reliable flow
    cut_hist_threshold: float = 0.5  # ... or grey histograms jump more than this

    def check(self, prefix: str) -> None:
        one_of(prefix + "method", self.method, FLOW_METHODS)
        one_of(prefix + "preset", self.preset, DIS_PRESETS)


@dataclass(frozen=True)
class RawMotion:
    """What the optical flow of two raw frames says, before any dream: it depends on the
    clip alone, so the frame loop computes it ahead of the dream."""

    flows: tuple[np.ndarray, np.ndarray]  # (backward t -> t-1, forward t-1 -> t)
    mask: np.ndarray  # occlusion mask: 1 where the flow holds
    cut: bool  # a new shot starts at frame t

    @property
    def reliable(self) -> float:
        return float(self.mask.mean())


def raw_motion(
    spec: RenderSpec, estimator: FlowEstimator, previous_raw: np.ndarray, raw: np.ndarray
) -> RawMotion:
    """The flow from ``previous_raw`` to ``raw`` both ways, where it holds, and cuts."""
    gray_prev, gray_cur = to_gray(previous_raw), to_gray(raw)
    backward, forward = flow_pair(estimator, gray_prev, gray_cur)
    mask = occlusion_mask(backward, forward)
    cut = is_scene_cut(
        gray_prev,
        gray_cur,
        mask,
        min_reliable=spec.flow.cut_min_reliable,
        hist_threshold=spec.flow.cut_hist_threshold,
    )
    return RawMotion((backward, forward), mask, cut)


@dataclass(frozen=True)
class RawFrame:
    """One frame of the clip, decoded ahead of the dream (what ``prepare`` gives)."""

    image: np.ndarray  # RGB uint8
    previous: np.ndarray | None  # the raw frame before it; None for the first
    motion: RawMotion | None = None  # from previous to image; None without flow


@dataclass(frozen=True)
class Carry:
    """How one frame starts."""

    image: np.ndarray  # RGB float32 0..255
    fresh: bool  # no dream carried: first frame, cut, or flow off
    cut: bool = False
    reliable: float = 1.0  # share of pixels whose flow passed the consistency check


def carry_dream(
    spec: RenderSpec,
    estimator: FlowEstimator | None,
    frame: int,
    raw: np.ndarray,
    previous_raw: np.ndarray | None,
    previous_dream: np.ndarray | None,
    *,
    fade: bool = True,
    clock=NULL_CLOCK,
) -> Carry:
    """Frame ``frame``'s start image from its raw frame and the previous dreamed frame,
    the flow computed here (the frame loop computes it ahead and calls `carry_motion`)."""
    motion = None
    if estimator is not None and previous_raw is not None and previous_dream is not None:
        with clock.stage("flow"):
            motion = raw_motion(spec, estimator, previous_raw, raw)
    return carry_motion(spec, motion, frame, raw, previous_raw, previous_dream, fade=fade)


def carry_motion(
    spec: RenderSpec,
    motion: RawMotion | None,
    frame: int,
    raw: np.ndarray,
    previous_raw: np.ndarray | None,
    previous_dream: np.ndarray | None,
    *,
    fade: bool = True,
) -> Carry:
    """Carry the previous frame's dream along ``motion`` onto ``raw``.

    ``fade=False`` carries the whole dream (blend 1, the occlusion mask still applies):
    frames between cadence keyframes add no dream, so fading them too would thin the
    dream by blend**cadence a keyframe instead of by blend.
    """
    if motion is None or previous_raw is None or previous_dream is None:
        return Carry(raw.astype(np.float32), fresh=True)
    if motion.cut:
        return Carry(raw.astype(np.float32), fresh=True, cut=True, reliable=motion.reliable)
    backward = motion.flows[0]
    weight = ((spec.video.blend(frame) if fade else 1.0) * motion.mask)[..., None]
    if spec.video.blend_mode == "residual":
        # raw + weight * warp(dream - raw), in place: half the time of the plain numpy
        # expression at 720p (it is on the critical path), the same floats.
        start = backward_warp(
            cv2.subtract(previous_dream, previous_raw, dtype=cv2.CV_32F), backward
        )
        start *= weight
        start += raw
    else:
        warped = backward_warp(previous_dream.astype(np.float32), backward)
        start = weight * warped + (1.0 - weight) * raw.astype(np.float32)
    np.clip(start, 0.0, 255.0, out=start)
    return Carry(start, fresh=False, reliable=motion.reliable)


def between_settings(steps: int) -> dict:
    """Dream settings of a frame between cadence keyframes: ``steps`` steps; with none,
    one octave too, so the frame is its start image (0 steps over octaves would still
    measure a loss per octave, and without keep_source_detail blur the start)."""
    return {"steps": steps, "octaves": 1} if steps == 0 else {"steps": steps}


def check_video_frame_side(source: str, width: int, height: int, max_size: int | None) -> None:
    """Refuse frames too small to dream, naming what makes them so: video.max_size, or
    the clip itself."""
    shrunk = max_size is not None and max(width, height) >= max_size - 1
    hint = (
        "raise video.max_size (or unset it: --set video.max_size=)"
        if shrunk
        else "the clip itself is that small: use a larger one"
    )
    check_frame_side(width, height, f"frames of {Path(source).name}", hint)


@register
class VideoMode(ModeBase):
    """A clip, frame by frame, each frame carrying the last one's dream along the flow."""

    name = "video"
    # dream_strength, e_warp_*: each frame's stability terms (imaging.stability.FrameTerms), which
    # report.json adds up.
    columns = ("cut", "reliable", "keyframe", "dream_strength", "e_warp_output", "e_warp_input")
    settings = {"video": VideoSettings, "flow": FlowSettings}

    @classmethod
    def identity(cls, spec: RenderSpec) -> dict:
        """Where the range ends decides no frame's pixels (frame k is the same clip frame,
        seed and carry for any end), so a later end extends a finished render the way
        ``frames`` extends a zoom; start, every and max_size stay in."""
        data = super().identity(spec)
        for key in ("end", "end_frame", "allow_partial"):  # allow_partial: what is
            data["video"].pop(key)  # stitched, not the frames
        return data

    @classmethod
    def check(cls, spec: RenderSpec) -> None:
        if not spec.input:
            raise DreamreelError(
                "video mode needs an input clip: --input CLIP (a video file "
                "or a folder of numbered frames)"
            )

    def __init__(self, spec: RenderSpec):
        self.spec = spec
        v = spec.video
        self.source = open_render_clip(spec)
        check_video_frame_side(spec.input, self.source.width, self.source.height, v.max_size)
        # What the header promises: a damaged clip's frames run out before it, and
        # prepare() then raises InputEnded where they do (the frame loop stops there).
        self.count = self.source.promised_count
        self.fps = self.source.fps
        # Each estimator is used by one thread only: OpenCV's DIS object is not shared.
        self.estimator = (
            FlowEstimator(spec.flow.method, spec.flow.preset) if spec.flow.enabled else None
        )
        self._measure_estimator = self._report_estimator()  # flow off: measuring needs one
        self._raws = None
        self._last_raw: np.ndarray | None = None  # prepare's: the frame decoded last
        self.previous_dream: np.ndarray | None = None  # start/finish's: the last dream
        self._measured: tuple[np.ndarray, np.ndarray] | None = None  # measure's: (raw, dream)

    def release(self) -> None:
        self.source.close()

    def resume(self, done: int, store) -> int:
        """Stream raw frames from ``done - 1`` on; the dream chain restarts from disk."""
        with self.clock.stage("decode"):
            self._raws = self.source.frames(first=max(0, done - 1))
            self._last_raw = self._next_raw(done - 1) if done > 0 else None
        if done > 0:
            self.previous_dream = store.read_frame(done - 1)
            self._measured = (self._last_raw, self.previous_dream)
        return done

    def _next_raw(self, index: int) -> np.ndarray:
        """The clip's next frame; where the clip ends early, InputEnded naming the key
        that accepts a shorter render."""
        try:
            return next(self._raws)
        except InputEnded as ended:
            raise ended.allow(ALLOW_PARTIAL_KEY, self.spec.video.allow_partial) from None

    def _report_estimator(self) -> FlowEstimator:
        return FlowEstimator(self.spec.flow.method, self.spec.flow.preset)

    def prepare(self, index: int) -> RawFrame:
        """Decode frame ``index`` and its flow from the frame before: the clip alone."""
        with self.clock.stage("decode"):
            raw = self._next_raw(index)
        previous, self._last_raw = self._last_raw, raw
        motion = None
        if self.estimator is not None and previous is not None:
            with self.clock.stage("flow"):
                motion = raw_motion(self.spec, self.estimator, previous, raw)
        return RawFrame(raw, previous, motion)

    def start(self, index: int, seed: int, ready: RawFrame) -> FrameStart:
        # A keyframe by its index alone (and by a cut, which the raw frames decide): a
        # resumed render decides the same, whatever it stored before.
        between = index % self.spec.video.cadence != 0
        with self.clock.stage("carry"):  # the warp and blend
            carry = carry_motion(
                self.spec,
                ready.motion,
                index,
                ready.image,
                ready.previous,
                self.previous_dream,
                fade=not between,
            )
        if carry.fresh:
            settings = {
                "steps": self.spec.video.first_steps,
                "octaves": self.spec.video.first_octaves,
            }
        elif between:
            settings = between_settings(self.spec.video.between_steps)
        elif self.spec.video.step_scale() != 1.0:
            step_size = self.spec.dream_settings(index).step_size  # its schedule, this frame
            settings = {"step_size": step_size * self.spec.video.step_scale()}
        else:
            settings = {}
        log = {
            "cut": int(carry.cut),
            "reliable": round(carry.reliable, 4),
            "keyframe": int(carry.fresh or not between),
        }
        # A mask keeps the raw frame, not the carried dream (renderer/rendering/masks.py).
        return FrameStart(carry.image, settings, log, source=ready.image)

    def finish(self, index: int, result) -> FrameOut:
        frame = to_uint8(result.image)
        self.previous_dream = frame
        return FrameOut(frame, exact=result.image)

    def measure(self, index: int, ready: RawFrame, out: FrameOut) -> dict:
        """The frame's stability terms (E_warp against the frame before, dream strength),
        with the flow the carry used: kept in losses.csv, summed into report.json."""
        with self.clock.stage("stability"):
            motion = ready.motion
            terms = measure_frame(
                ready.image,
                out.image,
                self._measured,
                estimator=self._measure_estimator,
                flows=motion.flows if motion else None,
                mask=motion.mask if motion else None,
            )
        self._measured = (ready.image, out.image)
        return terms.to_log()

    def notes(self) -> list[str]:
        notes = octave_notes(
            self.spec,
            self.source.height,
            self.source.width,
            self.spec.video.first_octaves,
            "video.first_octaves",
        )
        if self.spec.video.audio and self.source.audio_note:  # said now, not found missing
            notes.append(self.source.audio_note)
        return notes

    def audio(self):
        """The clip's sound from the range's start (an AudioSource), or None."""
        return self.source.audio if self.spec.video.audio else None

    def manifest(self) -> dict:
        audio = self.audio()  # the frame loop records fps for every mode
        return {"audio": audio.to_dict() if audio else None}

    def close(self, store) -> ModeSummary:
        """The temporal stability report of the stored frames against the raw clip.

        It adds up the terms each frame logged in losses.csv, so a resumed render reports
        exactly what an uninterrupted one does; only frames logged by an older version,
        without terms, make it read the clip and compute the flow again.
        """
        rows = store.rows()[: self.count]
        terms = [FrameTerms.from_log(row) for row in rows]
        if len(terms) == self.count and None not in terms:
            meter = StabilityMeter(self.fps, self._report_estimator())
            for frame_terms in terms:
                meter.add_terms(frame_terms)
        else:
            with self.clock.stage("stability"):  # decoding the clip again included
                meter = StabilityMeter(self.fps, self._report_estimator())
                for index, raw in zip(range(self.count), self.source.frames()):
                    meter.add(raw, store.read_frame(index))
        stability = meter.report()
        report = {"summary": stability.summary_line(), **stability.to_dict()}
        report["cuts"] = [int(r["frame"]) for r in rows if int(r.get("cut", 0))]
        return ModeSummary(report)


def check_chunk_settings(warmup: int, crossfade: int, chunks: int, prefix: str) -> None:
    if warmup < 0 or crossfade < 0 or chunks < 0:
        raise DreamreelError(
            f"{prefix}warmup and {prefix}crossfade must be >= 0, "
            f"{prefix}chunks >= 0 (0: one per worker)"
        )
