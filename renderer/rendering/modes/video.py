"""Video mode: dream over a clip, carrying the last frame's dream along the optical flow.

Each frame starts from its raw frame plus the previous frame's dream residual
(dream - raw) warped onto it by backward optical flow, weighted by ``video.blend`` and by
the occlusion mask: where the flow is unreliable (occluded, uncovered, from outside the
image) the raw frame shows through, so nothing smears and no ghost lingers; those pixels
dream ``video.catch_up`` times as hard. The dream itself is then held to the earlier
frames by the objective's temporal term (video_hold.py: the reference, the dial
``video.coherence`` that sets blend and weight, the level that keeps the carried dream
at a fresh dream's strength). A scene cut (flow collapses or histograms jump) starts
afresh from the raw frame.
With ``video.cadence = k`` only every k-th frame (a keyframe) dreams; the frames between
are carried along the flow (Deforum's cadence: previews in about 1/k of the time).
Pure numpy/OpenCV: the frame loop runs the dream.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from ...imaging.flow import (
    FlowEstimator,
    backward_warp,
    flow_pair,
    is_scene_cut,
    occlusion_mask,
    to_gray,
)
from ...imaging.stability import FrameTerms, StabilityMeter, dream_strength, measure_frame
from ...media.images import to_uint8
from ...media.limits import check_frame_side
from ...media.truncated_input import InputEnded
from ...runtime.errors import DreamreelError
from ..stage_clock import NULL_CLOCK
from .base import FrameOut, FrameStart, ModeBase, ModeSummary, register
from .source import octave_notes, open_render_clip
from .video_hold import (
    CARRY_INTERPOLATION,
    EarlierMotion,
    RawHistory,
    held_frame,
    last_fresh_strength,
    level_gain,
)
from .video_settings import FlowSettings, VideoSettings

if TYPE_CHECKING:
    from ..spec import RenderSpec

ALLOW_PARTIAL_KEY = "video.allow_partial"


@dataclass(frozen=True)
class RawMotion:
    """What the optical flow of two raw frames says, before any dream: it depends on the
    clip alone, so the frame loop computes it ahead of the dream."""

    flows: tuple[np.ndarray, np.ndarray]  # (backward t -> t-1, forward t-1 -> t)
    mask: np.ndarray  # occlusion mask: 1 where the flow holds
    cut: bool  # a new shot starts at frame t
    # flows to frames 2..video.temporal_frames back (long-term temporal term), since a cut
    earlier: tuple[EarlierMotion, ...] = ()

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
    # The carry before blend and mask fade it: raw + the whole warped residual (or the
    # warped dream): what the temporal term holds the frame to. None when fresh.
    held: np.ndarray | None = None
    carried: np.ndarray | None = None  # (H, W): the share of the dream carried, blend * mask


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
    gain: float = 1.0,
) -> Carry:
    """Carry the previous frame's dream along ``motion`` onto ``raw``.

    ``fade=False`` carries the whole dream (blend 1, the occlusion mask still applies):
    frames between cadence keyframes add no dream, so fading them too would thin the
    dream by blend**cadence a keyframe instead of by blend. ``gain`` scales the carried
    residual, the reference held included (video_hold.level_gain).
    """
    if motion is None or previous_raw is None or previous_dream is None:
        return Carry(raw.astype(np.float32), fresh=True)
    if motion.cut:
        return Carry(raw.astype(np.float32), fresh=True, cut=True, reliable=motion.reliable)
    backward = motion.flows[0]
    weight = ((spec.video.blend_at(frame) if fade else 1.0) * motion.mask)[..., None]
    if spec.video.blend_mode == "residual":
        # raw + weight * warp(dream - raw), in numpy's fused steps: half the time of the
        # plain expression at 720p (it is on the critical path), the same floats.
        residual = cv2.subtract(previous_dream, previous_raw, dtype=cv2.CV_32F)
        if gain != 1.0:
            residual *= np.float32(gain)
        held = backward_warp(residual, backward, CARRY_INTERPOLATION)
        start = held * weight
        start += raw
        held += raw
    else:
        dream = previous_dream.astype(np.float32)
        if gain != 1.0:
            dream = previous_raw + np.float32(gain) * (dream - previous_raw)
        held = backward_warp(dream, backward, CARRY_INTERPOLATION)
        start = weight * held + (1.0 - weight) * raw.astype(np.float32)
    np.clip(start, 0.0, 255.0, out=start)
    np.clip(held, 0.0, 255.0, out=held)
    return Carry(start, fresh=False, reliable=motion.reliable, held=held, carried=weight[..., 0])


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
    # temporal: the temporal term's mean squared difference over the pixels held, before its
    # weight (video_hold.HeldFrame.difference), blank where nothing held the frame.
    columns = (
        "cut",
        "reliable",
        "keyframe",
        "dream_strength",
        "e_warp_output",
        "e_warp_input",
        "temporal",
    )
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
        # prepare's: raw frames further back, for the long-term temporal term
        self._history = RawHistory(v.temporal_frames if self.estimator is not None else 1)
        self.previous_dream: np.ndarray | None = None  # start/finish's: the last dream
        self._dreams: dict[int, np.ndarray] = {}  # start/finish's: the last few, by index
        self._held = None  # start's HeldFrame: what finish logs the term of
        # The strength of the last frame dreamed afresh (the first, or after a cut): a
        # carried dream is scaled back to it where it grows past it (level_gain).
        self._fresh_strength: float | None = None
        self._fresh_start = False  # start's: this frame dreams afresh
        self._raw_now: np.ndarray | None = None  # start's: this frame's raw image
        self._measured: tuple[np.ndarray, np.ndarray] | None = None  # measure's: (raw, dream)

    def release(self) -> None:
        self.source.close()

    def resume(self, done: int, store) -> int:
        """Stream raw frames from ``done - 1`` on; the dream chain restarts from disk."""
        back = self.spec.video.temporal_frames if self._history.wanted else 1
        with self.clock.stage("decode"):
            self._raws = self.source.frames(first=max(0, done - back))
        for index in range(max(0, done - back), done):  # the frames held in memory
            self._remember_raw(index)
        if done > 0:
            self._fresh_strength = last_fresh_strength(store.rows()[:done])
            for index in range(max(0, done - back), done):
                self._dreams[index] = store.read_frame(index)
            self.previous_dream = self._dreams[done - 1]
            self._measured = (self._last_raw, self.previous_dream)
        return done

    def _remember_raw(self, index: int) -> RawMotion | None:
        """Decode frame ``index`` and keep it as the last one; its flow from the frame
        before (None without flow or a frame before), and flows further back when the
        long-term term wants them."""
        with self.clock.stage("decode"):
            raw = self._next_raw(index)
        previous, self._last_raw = self._last_raw, raw
        if self.estimator is None:  # flow off
            return None
        motion = None
        with self.clock.stage("flow"):
            if previous is not None:
                motion = raw_motion(self.spec, self.estimator, previous, raw)
            cut = motion is not None and motion.cut
            earlier = self._history.advance(self.estimator, raw, cut)
        if earlier and motion is not None:
            motion = dataclasses.replace(motion, earlier=earlier)
        return motion

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
        previous = self._last_raw
        motion = self._remember_raw(index)
        return RawFrame(self._last_raw, previous, motion)

    def start(self, index: int, seed: int, ready: RawFrame) -> FrameStart:
        # A keyframe by its index alone (and by a cut, which the raw frames decide): a
        # resumed render decides the same, whatever it stored before.
        between = index % self.spec.video.cadence != 0
        with self.clock.stage("carry"):  # the warp and blend
            gain = 1.0
            if self.previous_dream is not None and ready.previous is not None:
                previous = dream_strength(ready.previous, self.previous_dream)
                gain = level_gain(self._fresh_strength, previous)
            carry = carry_motion(
                self.spec,
                ready.motion,
                index,
                ready.image,
                ready.previous,
                self.previous_dream,
                fade=not between,
                gain=gain,
            )
        self._fresh_start = carry.fresh
        self._raw_now = ready.image
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
        self._held = None
        if carry.held is not None and ready.motion is not None:
            earlier = tuple(
                (motion, self._dreams[index - motion.distance])
                for motion in ready.motion.earlier
                if index - motion.distance in self._dreams
            )
            self._held = held_frame(
                carry.held,
                ready.motion.mask,
                ready.image,
                earlier,
                full=self.spec.video.blend_mode == "full",
            )
        target = (
            None
            if self._held is None
            else self._held.target(self.spec.video.temporal_weight_at(index))
        )
        step_map = None
        if carry.carried is not None and self.spec.video.catch_up != 1.0 and not between:
            step_map = 1.0 + np.float32(self.spec.video.catch_up - 1.0) * (1.0 - carry.carried)
        # A mask keeps the raw frame, not the carried dream (renderer/rendering/masks.py).
        return FrameStart(
            carry.image,
            settings,
            log,
            source=ready.image,
            temporal=target,
            step_map=step_map,
        )

    def finish(self, index: int, result) -> FrameOut:
        frame = to_uint8(result.image)
        self.previous_dream = frame
        self._dreams[index] = frame
        self._dreams.pop(index - self.spec.video.temporal_frames, None)
        if self._fresh_start:  # the strength the carried dream is held at until a cut
            self._fresh_strength = dream_strength(self._raw_now, frame)
        held = None if self._held is None else self._held.difference(frame)
        log = {"temporal": None if held is None else float(f"{held:.6g}")}
        return FrameOut(frame, exact=result.image, log=log)

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
