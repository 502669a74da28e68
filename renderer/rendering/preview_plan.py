"""What ``dreamreel preview`` knows of a render before anything is dreamed: how many
frames it stores and plays, at what rate, at what size, and its spec with every schedule
bound to that rate and to the music track.

The steps a render takes before its first frame, less the model: a track sets a zoom's
length (``prepare_audio``, ``--frames N`` keeping the first N); the mode says its count
(a zoom's frames and its loop's lead-in, a morph's photos, a progress dream's snapshots,
a clip's range, read from the clip's packets); the schedules are bound to the render's
rate and track (``bind_spec``) and checked at every frame, as ``bind_render`` checks them.
No TensorFlow, nothing decoded but the track.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..engine.dream import octave_shapes
from ..engine.objectives import Objective
from ..schedules.audio_features import load_features
from ..schedules.keyframes import Schedule
from .modes.builtin import mode_class
from .modes.morph import check_morph_inputs, morph_frame_count
from .modes.progress import snapshot_plan
from .modes.source import frame_shape, open_render_clip
from .schedule_binding import bind_spec, check_every_frame, prepare_audio

if TYPE_CHECKING:
    from ..schedules.audio_features import AudioFeatures
    from .spec import RenderSpec


@dataclass(frozen=True)
class ScheduledValue:
    """One value a render reads at every frame, by the name a preset gives it."""

    name: str  # "zoom.scale", "layers.block_12_expand_relu", "objective tv"
    at: Callable[[int], float]  # its value at a frame
    schedule: Schedule | None  # what it follows (None: an objective term's plain weight)
    constant: bool


@dataclass(frozen=True)
class PreviewPlan:
    """A render's frames as its spec and inputs say them, before any dream."""

    spec: RenderSpec  # schedules bound to fps and the track
    count: int  # frames the render stores
    lead_in: int  # stored frames the MP4/GIF skip (a zoom loop's), played: the rest
    fps: float
    height: int  # the render's frame size
    width: int
    track: AudioFeatures | None  # the spec's music track at fps, whatever follows it
    values: tuple[ScheduledValue, ...]  # what the render reads at every frame

    @property
    def played(self) -> int:
        return self.count - self.lead_in

    def seconds(self, index: int) -> float:
        """When stored frame ``index`` shows in the MP4 (a lead-in frame: before 0)."""
        return (index - self.lead_in) / self.fps


def plan_preview(spec: RenderSpec, max_frames: int | None = None) -> PreviewPlan:
    """``spec`` as a render would run it: refused (one line) where the render would
    refuse it before its first frame. ``max_frames``: the CLI's ``--frames`` with a track."""
    spec = prepare_audio(spec, max_frames)  # a track sets a zoom's length
    count, lead_in, fps, height, width = _frames(spec)
    track = load_features(spec.audio, fps) if spec.audio else None
    follows = any(s.follows_audio for s in _schedules(spec))
    bound = bind_spec(spec, fps=fps, track=track if follows else None, offset=spec.frame_offset)
    values = tuple(scheduled_values(bound))
    check_every_frame((v.schedule for v in values if v.schedule is not None), count)
    return PreviewPlan(bound, count, lead_in, fps, height, width, track, values)


def _frames(spec: RenderSpec) -> tuple[int, int, float, int, int]:
    """(count, lead_in, fps, height, width) of the render's frames."""
    if spec.mode == "video":
        with open_render_clip(spec) as clip:
            return clip.promised_count, 0, clip.fps, clip.height, clip.width
    if spec.mode == "morph":
        inputs = check_morph_inputs(spec)
        count = morph_frame_count(len(inputs.photos), spec.morph.hold, spec.morph.fade)
        return count, 0, spec.fps, inputs.height, inputs.width
    height, width = frame_shape(spec)
    if spec.mode == "progress":
        settings = spec.dream_settings()
        shapes = octave_shapes(height, width, settings.octaves, settings.octave_scale)
        count = len(snapshot_plan(len(shapes), settings.steps, spec.progress.every))
        return count, 0, spec.fps, height, width
    loop = spec.zoom.loop
    return spec.frames + loop, loop, spec.fps, height, width


def scheduled_values(spec: RenderSpec) -> Iterator[ScheduledValue]:
    """Every value the render reads per frame: the dream table's and the layers'
    schedules, its own mode's tables' (a zoom's in a video spec is never read), and the
    objective's term weights."""
    own = mode_class(spec.mode).settings
    for item in dataclasses.fields(spec):
        value = getattr(spec, item.name)
        if item.name == "tables":
            for name, table in value.items():
                if name in own:
                    yield from _named(table, name)
        elif isinstance(value, Objective):
            for term, weight in value.parts:
                yield ScheduledValue(f"objective {term}", weight, weight.schedule, weight.constant)
        else:
            yield from _named(value, item.name)


def _named(value: Any, name: str) -> Iterator[ScheduledValue]:
    if isinstance(value, Schedule):
        yield ScheduledValue(name, value, value, value.is_constant())
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for item in dataclasses.fields(value):
            yield from _named(getattr(value, item.name), f"{name}.{item.name}")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _named(item, f"{name}.{key}")


def _schedules(spec: RenderSpec) -> Iterator[Schedule]:
    return (v.schedule for v in scheduled_values(spec) if v.schedule is not None)
