"""Binding a spec's schedules to its render: the frame rate ``s`` and ``fps`` read, and
the music track ``audio:`` schedules follow.

A spec is loaded before its render knows its own frame rate: a video renders at its
clip's rate, known only once the mode opened the clip; and the track's features depend
on that rate. So the frame loop (renderer/rendering/frame_loop.py ``_render``) calls
``bind_render(spec, mode)`` once, after the mode is created and before the first frame:
every Schedule in the spec that reads ``s``, ``fps`` or audio features is rebound
(``Schedule.bind``) to the mode's fps and the track's features, and the mode is handed
the bound spec (every mode keeps its spec as ``mode.spec``). Schedules reading neither
stay the very same objects.

Binding also says what the render's identity and manifest gain: the fps, when a schedule
reads time in seconds or the track (it then decides pixels; modes leave fps out of their
identity otherwise), the track's content (size and SHA-256), and the track as the MP4's
sound when the mode has none of its own (a zoom; a video keeps its clip's sound).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ..runtime.errors import DreamreelError
from ..schedules.audio_features import decode_track, load_features, track_source
from ..schedules.keyframes import Schedule

if TYPE_CHECKING:
    from ..media.audio import AudioSource
    from ..schedules.audio_features import AudioFeatures
    from .spec import RenderSpec


def spec_schedules(spec: RenderSpec) -> Iterator[Schedule]:
    """Every Schedule in the spec: dream table, layers, the modes' tables, objective
    weights (anything reachable through dataclasses, dicts, lists and tuples)."""
    found: list[Schedule] = []

    def visit(schedule: Schedule) -> Schedule:
        found.append(schedule)
        return schedule

    _rebuilt(spec, visit)
    return iter(found)


def bind_spec(
    spec: RenderSpec, *, fps: float, track: AudioFeatures | None = None, offset: int = 0
) -> RenderSpec:
    """``spec`` with each schedule bound to ``fps``, ``track`` and the frame ``offset``
    (Schedule.bind)."""
    return _rebuilt(spec, lambda schedule: schedule.bind(fps=fps, track=track, offset=offset))


@dataclass
class BoundRender:
    """What ``_render`` works with once the schedules are bound."""

    spec: RenderSpec  # the bound spec (the mode has it too)
    audio: AudioSource | None  # the MP4's sound: the mode's, else the track
    identity: dict[str, Any]  # what decides the pixels (the spec hash)
    objective: Any = None  # the resolved objective handed in, its weights bound alike
    manifest: dict[str, Any] = field(default_factory=dict)  # the mode's facts + the sound


def bind_render(spec: RenderSpec, mode, objective: Any = None) -> BoundRender:
    """Bind ``spec``'s schedules (and those of ``objective``, the spec's objective as
    resolved for the model) to ``mode``'s fps and the spec's track; hand the bound spec
    to the mode. The spec's ``audio:`` schedules were checked for a track already
    (``prepare_audio``: every render starts there)."""
    from .identity import render_identity  # lazy: loads OpenCV, Pillow

    schedules = list(spec_schedules(spec))
    follows_audio = any(schedule.follows_audio for schedule in schedules)
    track = load_features(spec.audio, mode.fps) if follows_audio else None
    bound = bind_spec(spec, fps=mode.fps, track=track, offset=spec.frame_offset)
    if getattr(mode, "spec", None) is spec:
        mode.spec = bound
    if objective is not None:
        objective = _rebuilt(
            objective, lambda s: s.bind(fps=mode.fps, track=track, offset=spec.frame_offset)
        )
    reads_time = any(s.names & {"s", "fps"} or s.follows_audio for s in schedules)
    # Seconds and beats fall on other frames at another rate: the rate is identity then.
    identity = render_identity(bound, schedule_fps=mode.fps if reads_time else None, track=True)
    manifest = dict(mode.manifest())
    audio = mode.audio()
    if spec.audio:
        if audio is None:
            audio = track_source(spec.audio)
            manifest["audio"] = audio.to_dict()  # `dreamreel stitch` finds the sound here
    return BoundRender(bound, audio, identity, objective, manifest)


def _rebuilt(value: Any, change: Callable[[Schedule], Schedule]) -> Any:
    """``value`` with every Schedule inside replaced by ``change(schedule)``; containers
    are rebuilt only where something changed (the same object otherwise)."""
    if isinstance(value, Schedule):
        return change(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {}
        for f in dataclasses.fields(value):
            if not f.init:
                continue
            old = getattr(value, f.name)
            new = _rebuilt(old, change)
            if new is not old:
                changes[f.name] = new
        return dataclasses.replace(value, **changes) if changes else value
    if isinstance(value, dict):
        items = {key: _rebuilt(item, change) for key, item in value.items()}
        same = all(items[key] is value[key] for key in value)
        return value if same else items
    if isinstance(value, (list, tuple)):
        items = [_rebuilt(item, change) for item in value]
        if all(new is old for new, old in zip(items, value)):
            return value
        return type(value)(items) if isinstance(value, list) else tuple(items)
    return value


# ---------------------------------------------------------------- the render's track


def prepare_audio(spec: RenderSpec, max_frames: int | None = None) -> RenderSpec:
    """The spec ready to render with its track: refused (one line) when an ``audio:``
    schedule has no track or the track cannot be read; ``frames`` set to the track's
    length for modes other than video (capped at ``max_frames``)."""
    check_audio_schedules(spec)
    if not spec.audio:
        return spec
    track = decode_track(spec.audio)
    if spec.mode == "video":  # the clip sets the length; the track goes under it
        return spec
    frames = round(track.duration * spec.fps)
    if frames < 1:
        raise DreamreelError(
            f"audio track '{spec.audio}' lasts {track.duration:.3f} s: less "
            f"than one frame at {spec.fps:g} fps"
        )
    if max_frames is not None:
        frames = max(1, min(frames, int(max_frames)))
    return spec if frames == spec.frames else replace(spec, frames=frames)


def check_audio_schedules(spec: RenderSpec) -> None:
    """An ``audio:`` schedule needs a track: refuse one without, naming its keys."""
    if spec.audio:
        return
    keys = [schedule.key for schedule in spec_schedules(spec) if schedule.follows_audio]
    if keys:
        raise DreamreelError(
            f"{', '.join(keys)} follow{'s' * (len(keys) == 1)} an audio "
            f"track, but none is given: add --audio TRACK (or audio = "
            f'"track.mp3" in the preset)'
        )
