"""Morph mode: a dreaming slideshow. Each photo is held while the dream grows on it, then
the next one fades in, the dream carried across.

The photos, in order: the input's (a folder's images in natural order: 2.jpg before
10.jpg, files that are not images by their suffix and hidden files ignored; or the one
photo given), then ``morph.images`` (photos or folders: ``render morph --input a.jpg
--input b.jpg`` puts every --input after the first there, before the preset's). Each is
fitted to the frame size by centre-crop to cover: scaled until it covers the whole frame,
its overhang cut off equally on both sides (no bars, no stretching). The frame size is
width x height where given (one side given: the first photo's aspect), else the first
photo's own size with its long side capped at ``morph.max_size``. Photos are read like
every input (renderer/media/images.py: EXIF orientation, transparency onto
``input_background``, the pixel limit from the header).

For n photos the render has ``n * hold + (n - 1) * fade`` frames: photo k's ``hold``
frames, then ``fade`` frames in which the photo the dream is pulled toward cross-fades from
photo k to k+1 with a smoothstep ramp (no fade after the last). Frame i's *target* is that
photo (or the cross-fade of two). Frame 0 starts from photo 0 and is dreamed harder
(``morph.first_steps``, ``first_octaves``); every later frame starts from

    start_i = target_i + blend_i * warp(frame_{i-1} - target_{i-1})

the previous frame's dream residual (what the dream added to its target) moved by the
camera (zoom mode's ``warp``: ``morph.scale``, ``rotation``, ``translate_x/y``) and laid
over the current target, like video mode's residual blend. ``morph.blend`` below 1 fades
the old dream a little each frame: the start is pulled back toward the photo by
1 - blend, so the photo stays recognisable and sharp (the camera moves the dream, never
blurs the photo) while the dream keeps growing on it. With ``color_coherence`` each start
is recoloured to frame 0's colour statistics (zoom mode's ``match_colours``); off, the
default, each photo keeps its own colours.

Frames chain through the stored uint8 PNGs and every target comes from the photos and the
frame index alone, so a resume needs only the last stored frame (and frame 0 for
coherence). The photos' contents are recorded in the manifest's ``input_identity``
(renderer/media/input_identity.py, per photo): the frame store refuses to resume over photos
that changed, as it does for other modes' inputs.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from ...media.folder import IMAGE_SUFFIXES, image_size
from ...media.images import read_image, to_uint8
from ...media.input_identity import input_identity
from ...media.limits import check_frame_side
from ...runtime.atomic_files import resolved_user_path, user_os_errors
from ...runtime.errors import DreamreelError
from ...schedules.keyframe_parser import constant
from ...schedules.keyframes import Schedule
from .base import FrameOut, FrameStart, ModeBase, register
from .source import octave_notes, output_size
from .zoom import ColourStats, Motion, clip_float32, match_colours, warp

if TYPE_CHECKING:
    from ..spec import RenderSpec

NEEDS_PHOTOS = (
    "morph mode needs photos: --input FOLDER (or one photo), and/or "
    'morph.images = ["a.jpg", "b.png"]'
)


@dataclass(frozen=True)
class MorphSettings:
    """The ``morph`` table: which photos, how long each shows, how the dream moves."""

    images: tuple[str, ...] = ()  # photos (or folders) after the input's, in order (absolute)
    hold: int = 24  # frames each photo is held (>= 1)
    fade: int = 12  # frames of cross-fade to the next photo
    blend: Schedule = constant(0.9)  # share of the last frame's dream carried over
    scale: Schedule = constant(1.01)  # camera zoom per frame (> 1 flies in)
    rotation: Schedule = constant(0.0)  # degrees per frame, counter-clockwise
    translate_x: Schedule = constant(0.0)  # pixels per frame, + moves the view right
    translate_y: Schedule = constant(0.0)  # pixels per frame, + moves the view down
    first_steps: int = 20  # frame 0 dreams harder to grow structure
    first_octaves: int = 3
    color_coherence: bool = False  # recolour every start to frame 0's colours
    max_size: int = 1024  # long side when width/height are unset

    def __post_init__(self) -> None:
        # Absolute, like `input` (renderer/rendering/spec.py): the manifest's record must not depend
        # on the folder a render runs from. Already absolute ones are left as they are. A
        # path no file system takes (a loop of links, a name too long) is one line.
        object.__setattr__(
            self,
            "images",
            tuple(resolved_user_path(p, "morph image") if p else p for p in self.images),
        )

    def check(self, prefix: str) -> None:
        if "" in self.images:
            raise DreamreelError(f"{prefix}images holds an empty path")
        if self.hold < 1 or self.fade < 0:
            raise DreamreelError(
                f"{prefix}hold must be >= 1 (frames each photo is held) "
                f"and {prefix}fade >= 0 (frames of cross-fade)"
            )
        if not all(0.0 <= v <= 1.0 for _, v in self.blend.keyframes):
            raise DreamreelError(f"{prefix}blend must stay between 0 and 1")
        if min(v for _, v in self.scale.keyframes) <= 0:
            raise DreamreelError(f"{prefix}scale must be > 0 (1.0 is still, > 1 zooms in)")
        if self.first_steps < 0 or self.first_octaves < 1:
            raise DreamreelError(f"{prefix}first_steps must be >= 0 and {prefix}first_octaves >= 1")
        if self.max_size < 16:
            raise DreamreelError(f"{prefix}max_size must be >= 16, got {self.max_size}")


# ---------------------------------------------------------------- the plan


def morph_frame_count(photos: int, hold: int, fade: int) -> int:
    """Frames of a morph over ``photos`` photos: each held, a fade between neighbours."""
    return photos * hold + max(0, photos - 1) * fade


def photo_at(index: int, hold: int, fade: int) -> tuple[int, float]:
    """(photo k, share of photo k+1) that frame ``index`` is pulled toward: 0 while k is
    held, then a smoothstep ramp strictly inside (0, 1) over the fade frames."""
    k, offset = divmod(index, hold + fade)
    if offset < hold:
        return k, 0.0
    x = (offset - hold + 1) / (fade + 1)
    return k, x * x * (3.0 - 2.0 * x)


# ---------------------------------------------------------------- the photos


def natural_key(name: str) -> list:
    """ "photo10.jpg" after "photo2.jpg": digit runs compare as numbers, the rest without
    case. Splitting on a captured group alternates text and digits, so items line up."""
    parts = re.split(r"(\d+)", name)
    return [[int(part) if i % 2 else part.lower() for i, part in enumerate(parts)], name]


def folder_photos(folder: Path) -> list[Path]:
    """The images in ``folder`` (by suffix; hidden files and sub-folders ignored), in
    natural order; refuses a folder without any."""
    try:
        entries = [
            entry
            for entry in folder.iterdir()
            if not entry.name.startswith(".")
            and entry.suffix.lower() in IMAGE_SUFFIXES
            and entry.is_file()
        ]
    except OSError as err:
        raise DreamreelError(f"cannot list photos in '{folder}': {err.strerror or err}") from None
    if not entries:
        raise DreamreelError(
            f"no photos in '{folder}' ({', '.join(sorted(IMAGE_SUFFIXES))}): "
            f"put some there, or list them with morph.images"
        )
    return sorted(entries, key=lambda entry: natural_key(entry.name))


def morph_photos(spec: RenderSpec) -> list[Path]:
    """Every photo of the morph, in order: the input's, then morph.images' (each a photo
    or a folder of them, as the input: ``--input a/ --input b.jpg`` gives a/'s then b.jpg)."""
    photos: list[Path] = []
    for source in (Path(p) for p in (spec.input, *spec.morph.images) if p):
        with user_os_errors(source, "read photo"):  # a name too long: one line
            is_folder = source.is_dir()
        photos += folder_photos(source) if is_folder else [source]
    if not photos:
        raise DreamreelError(NEEDS_PHOTOS)
    return photos


@dataclass(frozen=True)
class MorphInputs:
    """The photos as their headers describe them, and the frame size they give."""

    photos: list[Path]
    sizes: list[tuple[int, int]]  # (width, height) of each photo, upright
    height: int
    width: int


def check_morph_inputs(spec: RenderSpec) -> MorphInputs:
    """Every photo readable and under max_input_pixels (from its header; decoded only
    where Pillow cannot parse it), and frames large enough to dream: a DreamreelError
    naming the first bad photo. Run before TensorFlow loads (renderer/rendering/input_sizes.py)
    and again when the mode opens."""
    photos = morph_photos(spec)
    sizes = [image_size(photo, spec.max_input_pixels) for photo in photos]
    width, height = sizes[0]
    height, width = output_size(spec, (height, width))
    if not (spec.width or spec.height) and max(height, width) > spec.morph.max_size:
        scale = spec.morph.max_size / max(height, width)
        height, width = max(1, round(height * scale)), max(1, round(width * scale))
    check_frame_side(
        width,
        height,
        f"frames from {photos[0].name}",
        "give a larger size with width/height (--size WxH)",
    )
    return MorphInputs(photos, sizes, height, width)


def cover(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """``image`` scaled to cover height x width, the overhang cropped equally on both
    sides (centre-crop to cover): no bars, no stretching."""
    rows, cols = image.shape[:2]
    scale = max(height / rows, width / cols)
    size = (max(width, round(cols * scale)), max(height, round(rows * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    resized = cv2.resize(image, size, interpolation=interpolation)
    top, left = (size[1] - height) // 2, (size[0] - width) // 2
    return np.ascontiguousarray(resized[top : top + height, left : left + width])


def photos_identity(photos: list[Path]) -> dict[str, Any] | None:
    """The photos by content, as the manifest's ``input_identity``: input_identity() of
    each, and one digest of their names and hashes in order (None if one is unreadable:
    opening it says why). The frame store compares ``size`` and ``sha256`` on resume."""
    files = [input_identity(photo) for photo in photos]
    if None in files:
        return None
    digest = hashlib.sha256()
    for photo, file in zip(photos, files):
        digest.update(f"{photo.name}\0{file['sha256']}\n".encode())
    return {
        "kind": "photos",
        "photos": len(files),
        "size": sum(f["size"] for f in files),
        "sha256": digest.hexdigest(),
        "files": [{"path": f["path"], "size": f["size"], "sha256": f["sha256"]} for f in files],
    }


@dataclass(frozen=True)
class MorphTarget:
    """What frame ``index`` is pulled toward: the photos alone (prepared ahead)."""

    photo: int  # 0-based: the photo held, or faded from
    fade: float  # share of the next photo (0 while held)
    image: np.ndarray  # the (cross-faded) photo, float32 RGB 0..255
    previous: np.ndarray | None  # the frame before's target: its dream is the residual


# ---------------------------------------------------------------- the mode


@register
class MorphMode(ModeBase):
    """Photos held while the dream grows on them, each fading into the next."""

    name = "morph"
    columns = ("photo", "fade")  # 1-based photo pulled toward, share of the next one
    settings = {"morph": MorphSettings}
    private_tables = ("morph",)

    @classmethod
    def check(cls, spec: RenderSpec) -> None:
        if not spec.input and not spec.morph.images:
            raise DreamreelError(NEEDS_PHOTOS)

    @classmethod
    def identity(cls, spec: RenderSpec) -> dict[str, Any]:
        """The spec without the tables morph never reads (zoom, video, flow). The photos'
        contents are the manifest's input_identity (see photos_identity)."""
        data = super().identity(spec)
        for table in ("zoom", "video", "flow"):
            data.pop(table, None)
        return data

    def __init__(self, spec: RenderSpec):
        self.spec = spec
        self.inputs = check_morph_inputs(spec)
        self.photos = self.inputs.photos
        self.height, self.width = self.inputs.height, self.inputs.width
        self.count = morph_frame_count(len(self.photos), spec.morph.hold, spec.morph.fade)
        self.fps = spec.fps
        self.previous: np.ndarray | None = None  # the last stored frame (uint8)
        self.reference: ColourStats | None = None  # frame 0's colours, for coherence
        self._fitted: dict[int, np.ndarray] = {}  # prepare's: photos at the frame size

    def notes(self) -> list[str]:
        notes = octave_notes(
            self.spec, self.height, self.width, self.spec.morph.first_octaves, "morph.first_octaves"
        )
        aspect = self.width / self.height
        cropped = [
            photo.name
            for photo, (w, h) in zip(self.photos, self.inputs.sizes)
            if abs(w / h / aspect - 1) > 0.01
        ]
        if cropped:
            shown = ", ".join(cropped[:3]) + (
                f" and {len(cropped) - 3} more" if len(cropped) > 3 else ""
            )
            notes.append(
                f"morph: {len(cropped)} of {len(self.photos)} photos are "
                f"centre-cropped to the {self.width}x{self.height} frames: {shown}"
            )
        return notes

    def manifest(self) -> dict[str, Any]:
        return {
            "size": [self.width, self.height],
            "photos": [str(photo) for photo in self.photos],
            "input_identity": photos_identity(self.photos),
        }

    def resume(self, done: int, store) -> int:
        """The last stored frame is all the chain needs (frame 0 too, for coherence):
        every target is recomputed from the photos."""
        if done > 0:
            self.previous = store.read_frame(done - 1)
            if self.spec.morph.color_coherence:
                self.reference = ColourStats.of(store.read_frame(0))
        return done

    def _photo(self, k: int) -> np.ndarray:
        """Photo k at the frame size; the ones before k-1 are dropped (frames go forward)."""
        if k not in self._fitted:
            image = read_image(
                self.photos[k],
                max_pixels=self.spec.max_input_pixels,
                background=self.spec.input_background,
            )
            self._fitted[k] = cover(image, self.height, self.width).astype(np.float32)
            for old in [key for key in self._fitted if key < k - 1]:
                del self._fitted[old]
        return self._fitted[k]

    def _target(self, index: int) -> tuple[int, float, np.ndarray]:
        k, share = photo_at(index, self.spec.morph.hold, self.spec.morph.fade)
        image = self._photo(k)
        if share > 0:
            image = image * np.float32(1.0 - share) + self._photo(k + 1) * np.float32(share)
        return k, share, image

    def prepare(self, index: int) -> MorphTarget:
        with self.clock.stage("decode"):  # reading, fitting and cross-fading photos
            k, share, image = self._target(index)
            previous = self._target(index - 1)[2] if index > 0 else None
        return MorphTarget(k, share, image, previous)

    def start(self, index: int, seed: int, ready: MorphTarget) -> FrameStart:
        log = {"photo": ready.photo + 1, "fade": round(ready.fade, 6)}
        if index == 0:
            settings = {
                "steps": self.spec.morph.first_steps,
                "octaves": self.spec.morph.first_octaves,
            }
            return FrameStart(ready.image, settings, log)
        morph = self.spec.morph
        with self.clock.stage("carry"):  # the residual's warp and blend
            residual = np.asarray(self.previous, np.float32) - ready.previous
            motion = Motion(
                morph.scale(index),
                morph.rotation(index),
                morph.translate_x(index),
                morph.translate_y(index),
            )
            start = ready.image + np.float32(morph.blend(index)) * warp(residual, motion)
            if morph.color_coherence:
                start = match_colours(start, self.reference)
            start = clip_float32(start, 255.0)
        # A mask (renderer/rendering/masks.py) keeps the photo where it is black, not the old dream.
        return FrameStart(start, log=log, source=ready.image)

    def finish(self, index: int, result) -> FrameOut:
        frame = to_uint8(result.image)
        self.previous = frame  # frames chain through the stored uint8 picture
        if self.reference is None and self.spec.morph.color_coherence:
            self.reference = ColourStats.of(frame)
        return FrameOut(frame, exact=result.image)

    def release(self) -> None:
        self._fitted.clear()
