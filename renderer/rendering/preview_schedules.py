"""``dreamreel preview``'s schedules.png: every value the render reads per frame, over
its frames, and its music track's features and beats under them.

A value that changes gets a row of its own (renderer/imaging/schedule_plot.py); a
constant one is listed in a line under the plot. Above them a row with the dream steps
each frame takes as the mode runs it (frame 0 and scene cuts dream harder, frames between
cadence keyframes take ``between_steps``), the cuts drawn across the rows. With a track
(``audio``), its features at the render's rate below (renderer/schedules/audio_features.py),
each 0..1, and its beats: the onset's peaks.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..imaging.schedule_plot import AUDIO, BEAT, Panel, Row, schedule_plot
from ..schedules.beats import beats_available
from ..schedules.expressions import AUDIO_NAMES, BEAT_NAMES
from .modes.morph import photo_at

if TYPE_CHECKING:
    from .preview_path import PathPreview
    from .preview_plan import PreviewPlan

MAX_POINTS = 2000  # values drawn per row: more frames are sampled evenly
BEAT_LEVEL = 0.3  # an onset peak at least this share of the track's strongest is a beat
BEAT_GAP_S = 0.2  # beats at least this far apart (300 a minute)


def schedules_picture(plan: PreviewPlan, path: PathPreview | None) -> np.ndarray:
    """The plot of ``plan``'s values (and ``path``'s steps and cuts) as RGB uint8."""
    frames = _sampled(plan.count)
    rows, constants = [], []
    if path is not None:
        rows.append(Row("dream steps taken", path.steps[frames[frames < len(path.steps)]]))
    spec = plan.spec
    if spec.mode == "morph":  # which photo the frame is pulled toward, and the fades
        hold, fade = spec.morph.hold, spec.morph.fade
        rows.append(
            Row("morph photo (+ fade)", [sum(photo_at(int(f), hold, fade)) + 1 for f in frames])
        )
    for value in plan.values:
        if value.constant:
            constants.append(f"{value.name} = {_number(value.at(0))}")
        else:
            rows.append(Row(value.name, [value.at(int(f)) for f in frames]))
    panels = [Panel("what the render reads each frame", rows, path.cuts if path else ())]
    notes = []
    if constants:
        notes.append("constant: " + ", ".join(constants))
    if path is not None and path.cuts:
        notes.append(
            f"red lines: scene cuts, where the dream starts afresh, at t = {_listed(path.cuts)}"
        )
    if spec.mask:
        notes.append(f"mask: {Path(spec.mask).name} (white dreams, black keeps the frame)")
    if plan.track is not None:
        panels.append(_audio_panel(plan, frames))
        notes.append(f"orange: beats (onset peaks) of {Path(plan.track.path).name}")
    title = (
        f"{spec.name} ({spec.mode}): {plan.played} frames at {plan.fps:g} fps, "
        f"{plan.played / plan.fps:.1f} s, {plan.width}x{plan.height}"
    )
    return schedule_plot(
        frames,
        panels,
        title=title,
        notes=notes,
        x_label=f"t: the frame as schedules count it, from 0 ({plan.fps:g} a second)",
    )


def beat_frames(onset: np.ndarray, fps: float) -> list[int]:
    """Frames where the onset strength peaks: above BEAT_LEVEL of its maximum, the
    highest within BEAT_GAP_S either side."""
    values = np.asarray(onset, np.float64)
    if not len(values) or values.max() <= 0:
        return []
    reach = max(1, round(BEAT_GAP_S * fps))
    beats: list[int] = []
    for frame in np.flatnonzero(values >= BEAT_LEVEL * values.max()):
        around = values[max(0, frame - reach) : frame + reach + 1]
        if values[frame] >= around.max() and (not beats or frame - beats[-1] > reach):
            beats.append(int(frame))
    return beats


def _audio_panel(plan: PreviewPlan, frames: np.ndarray) -> Panel:
    track = plan.track
    assert track is not None
    # The track at the render's length: cut, or padded with silence (as schedules read it).
    # The beat features with librosa only (an extra); tempo on a scale of its own (BPM).
    names = [n for n in AUDIO_NAMES if n not in BEAT_NAMES or beats_available()]
    features = {
        name: np.pad(track.features[name][: plan.count], (0, max(0, plan.count - track.frames)))
        for name in names
    }
    beats = beat_frames(features["onset"], plan.fps)
    rows = [
        Row(
            f"audio {name}",
            features[name][frames],
            AUDIO,
            beats if name == "onset" else (),
            BEAT,
            None if name == "tempo" else (0.0, 1.0),
        )
        for name in names
    ]
    return Panel(f"music track: {Path(track.path).name}", rows, beats, BEAT)


def _sampled(count: int) -> np.ndarray:
    """Frames 0..count-1, or MAX_POINTS of them evenly (the first and last kept)."""
    if count <= MAX_POINTS:
        return np.arange(count)
    return np.unique(np.linspace(0, count - 1, MAX_POINTS).round().astype(np.int64))


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.4g}"


def _listed(frames: list[int], limit: int = 12) -> str:
    shown = ", ".join(str(f) for f in frames[:limit])
    return shown + (f" and {len(frames) - limit} more" if len(frames) > limit else "")
