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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ..runtime.errors import DreamreelError
from ..schedules.audio_features import decode_track, load_features, track_source
from ..schedules.beats import beats_available, librosa_for
from ..schedules.expressions import BEAT_NAMES
from ..schedules.keyframes import Schedule

if TYPE_CHECKING:
    from ..media.audio import AudioSource
    from ..schedules.audio_features import AudioFeatures
    from .spec import RenderSpec


def spec_schedules(spec: RenderSpec) -> Iterator[Schedule]:
    """Every Schedule in the spec: dream table, layers, the modes' tables, objective
    weights (anything reachable through dataclasses, dicts, lists and tuples)."""
    return iter(_schedules_in(spec))


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
    if objective is not None:
        objective = _rebuilt(
            objective, lambda s: s.bind(fps=mode.fps, track=track, offset=spec.frame_offset)
        )
    # Every frame's values, at the render's own rate and track, before its first frame.
    count = getattr(mode, "count", None)  # every mode has one; a test's stand-in may not
    if count is not None:
        check_every_frame([*_schedules_used(bound), *_schedules_in(objective)], count)
    if getattr(mode, "spec", None) is spec:
        mode.spec = bound
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


def check_every_frame(schedules: Iterable[Schedule], frames: int) -> None:
    """Refuse (one line, naming the schedule and the frame) a schedule without a finite
    value at one of the frames 0 .. frames - 1: ``exp(t*100)`` overflows at frame 8, and
    the render must not find out there. Each value takes microseconds."""
    checked: set[int] = set()
    for schedule in schedules:
        if id(schedule) not in checked:  # a schedule shared by two keys: checked once
            checked.add(id(schedule))
            schedule.check_frames(frames)


def check_schedules_before_loading(spec: RenderSpec) -> None:
    """``check_every_frame`` for ``render --dry-run`` and the checks before TensorFlow,
    where the frame count is known without opening the input (a zoom, a morph).
    ``audio:`` schedules wait for the track's features (``bind_render`` checks them)."""
    frames = planned_frame_count(spec)
    if frames is None:
        return
    bound = bind_spec(spec, fps=spec.fps, offset=spec.frame_offset)
    check_every_frame((s for s in _schedules_used(bound) if not s.follows_audio), frames)


def planned_frame_count(spec: RenderSpec) -> int | None:
    """The frames the mode will render, where the spec says it; None where only the input
    (a clip, a progress dream's octaves) or the music track (its length) decides."""
    if spec.audio:
        return None  # the track's length decides (prepare_audio); a video's, its clip
    if spec.mode == "zoom":
        return spec.frames + spec.zoom.loop  # the loop's lead-in frames come first
    if spec.mode == "morph":
        from .modes.morph import morph_frame_count, morph_photos  # lazy: loads OpenCV

        return morph_frame_count(len(morph_photos(spec)), spec.morph.hold, spec.morph.fade)
    return None


def _schedules_used(spec: RenderSpec) -> list[Schedule]:
    """The schedules a render of ``spec`` reads at every frame: the spec's own and its
    mode's tables (another mode's table, a zoom's in a video, is never read)."""
    from .modes.builtin import mode_class  # lazy: loads Pillow

    own = mode_class(spec.mode).settings
    found: list[Schedule] = []
    for item in dataclasses.fields(spec):
        value = getattr(spec, item.name)
        if item.name == "tables":
            value = {name: table for name, table in value.items() if name in own}
        found += _schedules_in(value)
    return found


def _schedules_in(value: Any) -> list[Schedule]:
    """Every Schedule reachable in ``value`` (a spec, a resolved objective...)."""
    found: list[Schedule] = []

    def visit(schedule: Schedule) -> Schedule:
        found.append(schedule)
        return schedule

    _rebuilt(value, visit)
    return found


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
    """An ``audio:`` schedule needs a track: refuse one without, naming its keys; one
    that reads the beats needs librosa too (said here, before TensorFlow loads)."""
    if spec.audio:
        if not beats_available():
            for schedule in spec_schedules(spec):
                for name in sorted(schedule.names & set(BEAT_NAMES)):
                    librosa_for(name)  # one line naming the extra
        return
    keys = [schedule.key for schedule in spec_schedules(spec) if schedule.follows_audio]
    if keys:
        raise DreamreelError(
            f"{', '.join(keys)} follow{'s' * (len(keys) == 1)} an audio "
            f"track, but none is given: add --audio TRACK (or audio = "
            f'"track.mp3" in the preset)'
        )
