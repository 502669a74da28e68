"""The camera path and timing of a render, drawn without dreaming: ``dreamreel preview``'s
GIF (renderer/rendering/preview.py writes it).

Every frame of the render is walked in order, each mode by its own rules and code:

- zoom: the start picture (the input, or the seeded noise) moved by the camera up to the
  frame: each frame's move is the one ``zoom.warp`` makes (zoom, rotation, translation
  about the centre), the moves composed into one and warped by ``warp`` itself, so the
  picture stays sharp however far the camera went; a loop's last frames cross-fade into
  its first ones by ``loop_weights``;
- morph: each frame's target (photo k, cross-faded into photo k + 1 by ``photo_at``);
- video: the clip's frames, read at the preview's size over the render's range, stride
  and rate; scene cuts found as the mode finds them (``raw_motion``: the optical flow of
  the raw frames and their histograms, here at the preview's size);
- progress: the start picture at each snapshot's octave size (no camera: one dream).

Over the picture a yellow grid stands for the dream the render carries from frame to
frame: drawn on frame 0, moved by the camera (zoom), carried with the morph's residual
and faded by ``morph.blend``, or carried along the clip's flow by ``carry_motion`` (faded
by ``video.blend``, dropped where the flow fails, started afresh at a cut). Where a frame
starts afresh, the grid is drawn anew.

Each frame also gets the dream settings the mode would give it (frame 0 and cuts dream
harder, cadence frames between keyframes take ``between_steps``), so the captions and the
plot say which frames dream and which only carry. Nothing here loads a model.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from ..engine.dream import octave_shapes
from ..imaging.captions import caption
from ..imaging.flow import FlowEstimator
from ..imaging.noise import make_noise
from ..media.images import read_image, to_uint8
from ..media.truncated_input import InputEnded
from .modes.morph import cover, morph_photos, photo_at
from .modes.progress import snapshot_plan
from .modes.source import open_render_clip
from .modes.video import between_settings, carry_motion, raw_motion
from .modes.zoom import Motion, loop_weights, warp
from .preview_camera import FARTHEST_ZOOM, Camera

if TYPE_CHECKING:
    from .preview_plan import PreviewPlan
    from .spec import RenderSpec

PREVIEW_SIDE = 256  # the GIF's pictures: long side
MAX_GIF_FRAMES = 120  # more played frames: every k-th, evenly
MIN_GIF_WIDTH = 192  # a smaller render's picture sits centred on a strip this wide
GRID_COLOUR = np.array([255, 220, 0], np.float32)  # yellow: reads on photos and on noise
_GRID_OPACITY = 0.75
_GRID_CELLS = 6  # across the short side


@dataclass(frozen=True)
class PathStep:
    """One frame of the walk."""

    index: int  # stored frame, 0-based (a zoom loop's lead-in first)
    settings: dict[str, Any]  # changes to the frame's dream settings, as the mode's start
    markers: tuple[str, ...]  # "keyframe", "carried", "cut", "fade 40%"...
    values: tuple[str, ...]  # caption values: "zoom 1.030", "steps 5"...
    picture: np.ndarray | None  # RGB float32 the frame starts from (None: not asked for)
    grid: np.ndarray | None = None  # float32 0..1 HxW: the carried dream's stand-in
    fresh: bool = False  # no dream carried into it: the first frame, a cut


@dataclass
class PathPreview:
    """The GIF's frames and what the walk found on the way."""

    frames: list[np.ndarray]  # captioned RGB uint8, in order
    shown: list[int]  # their stored frame indices
    stride: int  # every stride-th played frame is shown
    gif_fps: float  # the render's speed: fps / stride
    steps: np.ndarray  # the dream steps each stored frame takes (int32)
    cuts: list[int]  # frames where a scene cut starts afresh
    # The frames asked for: (start picture without the grid, the mode's settings changes).
    starts: dict[int, tuple[np.ndarray, dict[str, Any]]]
    notes: list[str] = field(default_factory=list)


Walk = Callable[["PreviewPlan", tuple[int, int], set[int], list[str]], Iterator[PathStep]]


def path_preview(
    plan: PreviewPlan,
    *,
    side: int = PREVIEW_SIDE,
    max_frames: int = MAX_GIF_FRAMES,
    also: Sequence[int] = (),
) -> PathPreview | None:
    """Walk every frame of ``plan``; caption the evenly spaced played ones (at most
    ``max_frames``) at ``side`` pixels; keep the start pictures of the frames ``also``
    names. None for a mode that has no walk here."""
    walk = _WALKS.get(plan.spec.mode)
    if walk is None:
        return None
    stride = max(1, math.ceil(plan.played / max_frames))
    shown = list(range(plan.lead_in, plan.count, stride))
    asked = set(also)
    wanted = set(shown) | asked
    notes: list[str] = []
    steps = np.zeros(plan.count, np.int32)
    preview = PathPreview([], [], stride, plan.fps / stride, steps, [], {}, notes)
    size = preview_size(plan.height, plan.width, side)
    pictures: list[tuple[np.ndarray, str]] = []  # the shown frames, captioned at the end
    walked = 0
    for step in walk(plan, size, wanted, notes):
        steps[step.index] = step.settings.get("steps", _scheduled_steps(plan, step.index))
        walked = step.index + 1
        if "cut" in step.markers:
            preview.cuts.append(step.index)
        if step.picture is None:
            continue
        if step.index in asked:
            preview.starts[step.index] = (step.picture, step.settings)
        if step.index in shown:
            pictures.append((with_grid(step.picture, step.grid), _caption_text(plan, step)))
            preview.shown.append(step.index)
    preview.steps = steps[:walked]  # a clip that ends early: its frames
    # One strip height for every frame: the tallest caption's (a longer one wraps).
    width = max(size[1], MIN_GIF_WIDTH)
    shapes = {re.sub(r"\d", "0", text) for _, text in pictures}  # digits: one width
    strip = max((_strip_height(width, text) for text in shapes), default=0)
    preview.frames = [_captioned(picture, text, strip) for picture, text in pictures]
    if stride > 1:
        notes.append(
            f"path.gif shows every {_ordinal(stride)} of the {plan.played} frames "
            f"({len(preview.frames)} frames), at the render's speed"
        )
    return preview


def preview_size(height: int, width: int, side: int) -> tuple[int, int]:
    """(height, width) of the render's frames with the long side at most ``side``."""
    scale = min(1.0, side / max(height, width))
    return max(16, round(height * scale)), max(16, round(width * scale))


def start_picture(spec: RenderSpec, height: int, width: int) -> np.ndarray:
    """The input photo (or the seeded noise) at height x width, RGB float32: the render's
    start at the preview's size, stretched as the render stretches it to its frames."""
    if not spec.input:
        # At the preview's size directly: noise shrunk from the full size would be grey.
        image = make_noise(height, width, kind=spec.noise, seed=max(spec.seed, 0))
        return image.astype(np.float32)
    image = read_image(
        spec.input, max_pixels=spec.max_input_pixels, background=spec.input_background
    )
    shrink = height < image.shape[0]
    interpolation = cv2.INTER_AREA if shrink else cv2.INTER_CUBIC
    return cv2.resize(image, (width, height), interpolation=interpolation).astype(np.float32)


def grid(height: int, width: int) -> np.ndarray:
    """The carried dream's stand-in: lines through the centre and every sixth of the short
    side, float32 0..1."""
    lines = np.zeros((height, width), np.float32)
    spacing = max(4, min(height, width) / _GRID_CELLS)
    for centre, length, axis in (((width - 1) / 2, width, 1), ((height - 1) / 2, height, 0)):
        reach = int(centre // spacing) + 1
        for k in range(-reach, reach + 1):
            at = round(centre + k * spacing)
            if 0 <= at < length:
                if axis == 1:
                    lines[:, at] = 1.0
                else:
                    lines[at, :] = 1.0
    return lines


def with_grid(picture: np.ndarray, lines: np.ndarray | None) -> np.ndarray:
    """The picture with the grid drawn over it, RGB uint8."""
    if lines is None:
        return to_uint8(picture)
    alpha = (np.clip(lines, 0.0, 1.0) * _GRID_OPACITY)[..., None]
    return to_uint8(picture * (1.0 - alpha) + GRID_COLOUR * alpha)


def _camera_values(motion: Motion) -> tuple[str, ...]:
    values = [f"zoom {motion.scale:.3f}", f"rot {motion.rotation:+.2f}°"]
    if motion.translate_x or motion.translate_y:
        values.append(f"move {motion.translate_x:+.1f},{motion.translate_y:+.1f} px")
    return tuple(values)


# ---------------------------------------------------------------- the walks


def _zoom(plan: PreviewPlan, size, wanted: set[int], notes: list[str]) -> Iterator[PathStep]:
    spec, zoom = plan.spec, plan.spec.zoom
    height, width = size
    camera = Camera(height, width, width / plan.width)
    start, lines = start_picture(spec, height, width), grid(height, width)
    _note_seed(spec, notes)
    weights = loop_weights(zoom.loop)
    lead: dict[int, Motion] = {}  # a loop's first chain frames, to fade into
    for index in range(plan.count):
        motion = Motion.at(spec, index)
        if index:
            camera.move(motion)
        if index < zoom.loop:
            lead[index] = camera.motion()
        between = index % zoom.cadence != 0
        if index == 0:  # ZoomMode.start: frame 0 dreams harder
            settings = {
                "steps": zoom.first_steps,
                "octaves": zoom.first_octaves,
                "keep_source_detail": spec.dream.keep_source_detail and spec.input is not None,
            }
        elif between:
            settings = between_settings(zoom.between_steps)
        else:
            settings = {}
        markers = _cadence_markers(zoom.cadence, between)
        picture = view = None
        if index in wanted:
            picture, view = camera.view(start), camera.view(lines)
            fading = index - spec.frames
            if fading >= 0:  # the loop's fade into chain frame `fading` (ZoomMode.finish)
                weight = np.float32(weights[fading])
                first = lead[fading]
                picture = picture * (1 - weight) + warp(start, first) * weight
                view = view * (1 - weight) + warp(lines, first) * weight
                markers += (f"loop fade {weight:.0%}",)
        yield PathStep(
            index,
            settings,
            markers,
            # Only the shown frames' words: a long zoom walks many more.
            (*_camera_values(motion), f"steps {_steps(plan, index, settings)}")
            if picture is not None
            else (),
            picture,
            view,
            fresh=index == 0,
        )
    if camera.stopped:
        notes.append(
            f"the camera zooms past {FARTHEST_ZOOM:,.0f}x: past there the picture is one "
            f"flat colour, and path.gif holds the last view before it"
        )


def _morph(plan: PreviewPlan, size, wanted: set[int], notes: list[str]) -> Iterator[PathStep]:
    spec, morph = plan.spec, plan.spec.morph
    height, width = size
    photos = morph_photos(spec)
    fitted: dict[int, np.ndarray] = {}

    def photo(k: int) -> np.ndarray:
        if k not in fitted:
            image = read_image(
                photos[k], max_pixels=spec.max_input_pixels, background=spec.input_background
            )
            fitted[k] = cover(image, height, width).astype(np.float32)
            for old in [key for key in fitted if key < k - 1]:
                del fitted[old]
        return fitted[k]

    camera = Camera(height, width, width / plan.width)
    lines = grid(height, width)
    carried = 1.0  # how much of frame 0's dream is left: the blends multiplied
    for index in range(plan.count):
        k, share = photo_at(index, morph.hold, morph.fade)
        motion = Motion(
            morph.scale(index),
            morph.rotation(index),
            morph.translate_x(index),
            morph.translate_y(index),
        )
        if index:  # MorphMode.start: blend * warp(the last frame's dream)
            camera.move(motion)
            carried *= morph.blend(index)
        settings = (
            {"steps": morph.first_steps, "octaves": morph.first_octaves} if index == 0 else {}
        )
        markers = (f"photo {k + 1}",) if share == 0 else (f"photo {k + 1}>{k + 2} {share:.0%}",)
        picture = view = None
        if index in wanted:
            picture = photo(k)
            if share > 0:
                picture = picture * np.float32(1 - share) + photo(k + 1) * np.float32(share)
            view = camera.view(lines) * np.float32(carried)
        yield PathStep(
            index,
            settings,
            markers,
            (
                f"blend {morph.blend(index):.2f}",
                *_camera_values(motion),
                f"steps {_steps(plan, index, settings)}",
            )
            if picture is not None
            else (),
            picture,
            view,
            fresh=index == 0,
        )


def _video(plan: PreviewPlan, size, wanted: set[int], notes: list[str]) -> Iterator[PathStep]:
    spec, video = plan.spec, plan.spec.video
    side = max(size)
    with open_render_clip(spec, max_size=side) as clip:
        estimator = FlowEstimator(spec.flow.method, spec.flow.preset) if spec.flow.enabled else None
        if estimator is not None:
            notes.append("scene cuts are found as the render finds them, at the preview's size")
        lines = None
        previous: np.ndarray | None = None
        carried: np.ndarray | None = None  # the grid as the dream the render carries
        frames = clip.frames()
        for index in range(plan.count):
            try:
                raw = next(frames)
            except (InputEnded, StopIteration) as ended:
                notes.append(_ended_note(index, plan.count, ended, video.allow_partial))
                return
            if lines is None:
                lines = np.repeat(grid(*raw.shape[:2])[..., None] * 255.0, 3, axis=2)
            motion = None
            if estimator is not None and previous is not None:
                motion = raw_motion(spec, estimator, previous, raw)
            between = index % video.cadence != 0
            blank = np.zeros(raw.shape, np.float32)  # the grid is all the dream there is
            carry = carry_motion(
                spec,
                motion,
                index,
                blank,
                None if previous is None else blank,
                carried,
                fade=not between,
            )
            carried = lines if carry.fresh else carry.image
            previous = raw
            settings = _video_settings(spec, index, carry.fresh, between)
            markers = ("cut",) if carry.cut else ()
            markers += _cadence_markers(video.cadence, between and not carry.fresh)
            clip_seconds = clip.start_seconds + index / clip.fps
            yield PathStep(
                index,
                settings,
                markers,
                (
                    f"clip {clip_seconds:.2f} s",
                    f"blend {video.blend_at(index):.2f}",
                    f"steps {_steps(plan, index, settings)}",
                ),
                raw.astype(np.float32) if index in wanted else None,
                carried[..., 0] / 255.0 if index in wanted else None,
                fresh=carry.fresh,
            )


def _video_settings(spec: RenderSpec, index: int, fresh: bool, between: bool) -> dict:
    """VideoMode.start's changes: a fresh frame dreams harder, a frame between keyframes
    takes between_steps, a carried keyframe steps further."""
    video = spec.video
    if fresh:
        return {"steps": video.first_steps, "octaves": video.first_octaves}
    if between:
        return between_settings(video.between_steps)
    if video.step_scale() != 1.0:
        return {"step_size": spec.dream_settings(index).step_size * video.step_scale()}
    return {}


def _progress(plan: PreviewPlan, size, wanted: set[int], notes: list[str]) -> Iterator[PathStep]:
    spec = plan.spec
    height, width = size
    settings = spec.dream_settings()
    shapes = octave_shapes(plan.height, plan.width, settings.octaves, settings.octave_scale)
    start = start_picture(spec, height, width)
    _note_seed(spec, notes)
    scale = width / plan.width
    for index, (octave, step) in enumerate(
        snapshot_plan(len(shapes), settings.steps, spec.progress.every)
    ):
        picture = None
        if index in wanted:  # the dream's working size at this snapshot
            rows, cols = shapes[octave]
            small = (max(1, round(cols * scale)), max(1, round(rows * scale)))
            picture = start
            if small != (width, height):
                shrunk = cv2.resize(start, small, interpolation=cv2.INTER_AREA)
                picture = cv2.resize(shrunk, (width, height), interpolation=cv2.INTER_CUBIC)
        yield PathStep(
            index,
            {"steps": settings.steps},
            (),
            (
                f"octave {octave + 1}/{len(shapes)}",
                f"step {step}/{settings.steps}",
                f"{shapes[octave][1]}x{shapes[octave][0]}",
            ),
            picture,
            fresh=index == 0,
        )


_WALKS: dict[str, Walk] = {"zoom": _zoom, "morph": _morph, "video": _video, "progress": _progress}


# ---------------------------------------------------------------- captions


def _steps(plan: PreviewPlan, index: int, settings: dict) -> int:
    return int(settings.get("steps", _scheduled_steps(plan, index)))


def _scheduled_steps(plan: PreviewPlan, index: int) -> int:
    return round(plan.spec.dream.steps(index))


def _cadence_markers(cadence: int, between: bool) -> tuple[str, ...]:
    if cadence == 1:
        return ()  # every frame dreams: nothing to tell apart
    return ("carried",) if between else ("keyframe",)


def _caption_text(plan: PreviewPlan, step: PathStep) -> str:
    played = step.index - plan.lead_in
    first = f"frame {played + 1}/{plan.played}  t={step.index}  {plan.seconds(step.index):.2f} s"
    return "  ".join((first, *step.markers)) + "\n" + "  ".join(step.values)


def _captioned(picture: np.ndarray, text: str, strip: int) -> np.ndarray:
    """The picture with a strip under it holding the caption: at least MIN_GIF_WIDTH
    wide, so that a small render's caption still reads."""
    height, width = picture.shape[:2]
    canvas = np.zeros((height + strip, max(width, MIN_GIF_WIDTH), 3), np.uint8)
    left = (canvas.shape[1] - width) // 2
    canvas[:height, left : left + width] = picture
    return caption(canvas, text)


def _strip_height(width: int, text: str) -> int:
    """The height of the band ``caption`` draws for ``text`` at ``width``: measured on a
    white probe, where the band is the darkened rows (its first column holds no text)."""
    probe = np.full((2 * width, width, 3), 255, np.uint8)
    return int((caption(probe, text)[:, 0, 0] != 255).sum())


def _ordinal(n: int) -> str:
    suffix = "th" if n % 100 in (11, 12, 13) else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _note_seed(spec: RenderSpec, notes: list[str]) -> None:
    if not spec.input and spec.seed < 0:
        notes.append(
            f"seed {spec.seed} draws a random seed when the render starts: the preview's "
            f"noise is seed 0's"
        )


def _ended_note(index: int, count: int, ended: BaseException, allow_partial: bool) -> str:
    what = (
        str(ended) if isinstance(ended, InputEnded) else f"the clip gave {index} of {count} frames"
    )
    if allow_partial:
        return f"{what}; the render stops there too (video.allow_partial)"
    return (
        f"{what}; the render stops there with an error "
        f"(video.allow_partial = true: a shorter video)"
    )
