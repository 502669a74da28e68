"""The ``video`` and ``flow`` tables of video mode, and their checks (no OpenCV)."""

from __future__ import annotations

from dataclasses import dataclass

from ...imaging.flow import DIS_PRESETS, FLOW_METHODS
from ...runtime.errors import DreamreelError, one_of
from ...schedules.keyframe_parser import constant
from ...schedules.keyframes import Schedule
from .base import check_cadence
from .video_hold import CATCH_UP, DEFAULT_COHERENCE, MAX_TEMPORAL_FRAMES, coherence_settings

BLEND_MODES = ("residual", "full")  # residual: warp (dream - raw); full: warp the dream


@dataclass(frozen=True)
class VideoSettings:
    """The ``video`` table: which part of the clip, and how frames carry the dream."""

    start: float | None = None  # seconds into the clip
    end: float | None = None
    start_frame: int | None = None  # or a frame range (end exclusive)
    end_frame: int | None = None
    every: int = 1  # keep every n-th frame (fps divides by n)
    max_size: int | None = None  # long side at most this (aspect kept, even sizes)
    # How steady the dream is over the clip, 0..1 (a schedule): it sets blend and
    # temporal_weight together (video_hold.COHERENCE_CURVE); 0 dreams every frame afresh,
    # 1 glues the dream to the scene.
    coherence: Schedule = constant(DEFAULT_COHERENCE)
    # For experts, each overrides what coherence sets (unset: from coherence):
    blend: Schedule | None = None  # how much of the last frame's dream the carry starts from
    # The weight of the objective's temporal term: how hard each frame's dream is held to
    # the earlier dreamed frames warped onto it, where the flow holds (0: not at all).
    temporal_weight: Schedule | None = None
    # How many frames back the term looks (1: the frame before; k: also up to k back, each
    # pixel held to its most recent reliable frame). Each one more costs two flows a frame.
    temporal_frames: int = 1
    # Pixels the carry brought no dream to (uncovered by motion, where the flow fails, all
    # of them at blend 0) start from the raw frame: they dream this many times as hard, so
    # they catch up with the carried dream around them instead of showing as weak patches.
    catch_up: float = CATCH_UP
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
    # warmup frames before its first shown one, and crossfade frames overlap the chunk
    # before. chunks: how many (0: one per worker, none too short). A plain render ignores
    # them. A held dream (the default coherence) keeps its first frame's strength, so no
    # warm-up is needed, but it changes so little elsewhere that a seam between two
    # chunks' dreams shows unless the cross-fade is long: on a 320x180 pan with
    # video-quick, 24 cross-faded frames kept a seam's flicker at 1.25-1.40x the rest (16
    # after 8 warm-up frames: 1.47x; the old 8 after 16: 2.49x), the same frames dreamed.
    warmup: int = 0
    crossfade: int = 24
    chunks: int = 0

    def check(self, prefix: str) -> None:
        check_chunk_settings(self.warmup, self.crossfade, self.chunks, prefix)
        if self.every < 1 or self.first_steps < 0 or self.first_octaves < 1:
            raise DreamreelError(
                f"{prefix}every and {prefix}first_octaves must be >= 1, {prefix}first_steps >= 0"
            )
        check_cadence(prefix, self.cadence, self.between_steps, "the carried dream only")
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
        if self.blend is not None and not all(0.0 <= v <= 1.0 for _, v in self.blend.keyframes):
            raise DreamreelError(f"{prefix}blend must stay between 0 and 1")
        if not all(0.0 <= v <= 1.0 for _, v in self.coherence.keyframes):
            raise DreamreelError(
                f"{prefix}coherence must stay between 0 (every frame dreamed afresh) and 1 "
                f"(the dream glued to the scene)"
            )
        weight = self.temporal_weight
        if weight is not None and not all(0.0 <= v <= 1e6 for _, v in weight.keyframes):
            raise DreamreelError(f"{prefix}temporal_weight must stay between 0 and 1e6")
        if not 1.0 <= self.catch_up <= 10.0:
            raise DreamreelError(f"{prefix}catch_up must be between 1 (no catching up) and 10")
        if not 1 <= self.temporal_frames <= MAX_TEMPORAL_FRAMES:
            raise DreamreelError(
                f"{prefix}temporal_frames must be 1 (the frame before) to "
                f"{MAX_TEMPORAL_FRAMES} (frames back each pixel may be held to)"
            )

    def blend_at(self, frame: int) -> float:
        """The carry's blend on ``frame``: video.blend, else what coherence sets."""
        if self.blend is not None:
            return min(max(self.blend(frame), 0.0), 1.0)  # an expression may stray
        return coherence_settings(self.coherence(frame))[0]

    def temporal_weight_at(self, frame: int) -> float:
        """The temporal term's weight on ``frame``: video.temporal_weight, else what
        coherence sets."""
        if self.temporal_weight is not None:
            return max(self.temporal_weight(frame), 0.0)
        return coherence_settings(self.coherence(frame))[1]

    def may_hold(self) -> bool:
        """Whether the temporal term can weigh anything on some frame (only then is it
        added to the objective: a render without it keeps the graph it always had)."""
        if self.temporal_weight is not None:
            schedule, weight_of = self.temporal_weight, float
        else:
            schedule, weight_of = self.coherence, lambda c: coherence_settings(c)[1]
        return bool(schedule.expressions) or any(weight_of(v) > 0 for _, v in schedule.keyframes)

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


def check_chunk_settings(warmup: int, crossfade: int, chunks: int, prefix: str) -> None:
    if warmup < 0 or crossfade < 0 or chunks < 0:
        raise DreamreelError(
            f"{prefix}warmup and {prefix}crossfade must be >= 0, "
            f"{prefix}chunks >= 0 (0: one per worker)"
        )
