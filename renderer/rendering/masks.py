"""Masks: where the dream may change a frame. White dreams, black keeps the frame's
source, grey in between (0.5: half the change).

``mask = "path"`` (top level) works in every mode. After each frame's dream the frame
loop blends the dreamed image with the frame's source by the mask,
``source + m * (dreamed - source)``, so black areas stay the source exactly (up to the
rounding to uint8). The source is what the frame would be without dreaming
(``FrameStart.source``): a video frame's raw frame, else the frame's start image.

How a mask file becomes the array ``mask_for`` gives (HxW float32, 0..1):

- An image (any format ``read_image`` takes): colour becomes its luminance (OpenCV's
  Rec. 601 grey); transparency counts as black (the image is flattened onto black), so a
  mask painted on a transparent layer dreams only where it was painted.
- For video mode also a clip or a folder of numbered images (any file not named like an
  image is read as a clip): frame k of the render uses the mask frame with the same
  number as its input frame, so the input's range and ``video.every`` apply to the mask
  as they do to the clip (a matte exported with the clip fits any range). A mask
  shorter than the range needs is refused before the render, and so is a folder whose
  numbering has gaps: a missing number would shift every mask after it by a frame.
- Stretched to the frame's size: INTER_AREA shrinking, INTER_LINEAR enlarging (neither
  rings at a hard edge). There is no automatic feather: a hard edge stays hard, so black
  stays exact right up to it; paint a grey ramp (blur the mask) for a gradual one.
- Levels within 2 of black or white count as black or white: lossy masks (a JPEG, an
  H.264 clip) do not keep pure black, and the source must stay exact there.

The mask's content is part of the render's identity (``mask_identity``): resuming with
another mask at the same path is refused like any other change.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from ..engine.dream import resize
from ..media.folder import IMAGE_SUFFIXES, numbered_frames
from ..media.images import read_image
from ..media.input_identity import input_identity
from ..media.reader import Clip, open_video
from ..media.truncated_input import InputEnded
from ..runtime.atomic_files import user_os_errors
from ..runtime.errors import DreamreelError
from .modes.source import open_render_clip

if TYPE_CHECKING:
    from ..engine.dream import DreamResult
    from ..media.reader import Clip
    from .modes.base import FrameStart
    from .spec import RenderSpec

MASK_KEY = "mask"
BLACK = "#000000"  # what transparent mask pixels are flattened onto
# Levels (of 255) within this of black or white snap to it (lossy masks).
SNAP_LEVELS = 2


def is_sequence(spec: RenderSpec) -> bool:
    """Whether ``spec.mask`` is a clip or a folder of masks (video mode), not one image."""
    path = Path(spec.mask)
    with user_os_errors(path, "read mask"):  # e.g. a name too long for the file system
        folder = path.is_dir()
    return folder or (spec.mode == "video" and path.suffix.lower() not in IMAGE_SUFFIXES)


def mask_identity(path: str) -> dict[str, Any] | None:
    """The mask by content (renderer/media/input_identity.py's record, without the path and
    mtime: the spec holds the path, and a touched mask is the same mask)."""
    identity = input_identity(path)
    if identity is None:
        return None
    return {k: v for k, v in identity.items() if k not in ("path", "mtime_ns")}


def composite(source: np.ndarray, dreamed: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``source + mask * (dreamed - source)``, float32 0..255: where the mask is 0 the
    source exactly."""
    out = np.asarray(dreamed, np.float32) - np.asarray(source, np.float32)
    out *= mask[..., None]
    out += source
    return out


def check_mask(spec: RenderSpec) -> None:
    """Raise DreamreelError (one line) for a mask the render would refuse: missing,
    unreadable, too large, a folder with gaps, a clip shorter than the input's range.
    Before TensorFlow loads (renderer/rendering/preflight.py); decodes a mask image, and for a mask
    clip or folder opens the input too (its range decides which mask frames are needed).
    """
    if not spec.mask:
        return
    clip = None
    if spec.mode == "video" and is_sequence(spec):
        try:  # the range alone: the same frames the video mode will read
            clip = open_render_clip(spec, max_size=None)
        except InputEnded:
            return  # a damaged input: the video mode says so, in its own words
    with FrameMasks.open(spec, clip):
        pass


def open_masks(spec: RenderSpec, mode) -> FrameMasks:
    """The render's masks (``mask_for`` gives None without one). A video mode's input
    clip (``mode.source``) says which mask frames go with its frames."""
    clip = getattr(mode, "source", None)
    return FrameMasks.open(spec, clip if isinstance(clip, Clip) else None)


class FrameMasks:
    """Each frame's mask, at the frame's size. ``mask_for`` is meant for frames in order
    (a clip is read forward; going back reopens it); one thread only."""

    def __init__(self, still: np.ndarray | None = None, sequence: _Sequence | None = None):
        self._still = still  # HxW float32 0..1 at the mask's own size
        self._sequence = sequence
        self._cached: tuple[int | None, tuple[int, int], np.ndarray] | None = None

    @classmethod
    def open(cls, spec: RenderSpec, clip: Clip | None = None) -> FrameMasks:
        """``spec.mask`` opened and checked; ``clip``: the video input (its range)."""
        if not spec.mask:
            return cls()
        path = Path(spec.mask)
        if not path.exists():
            raise DreamreelError(f"cannot read mask '{path}': no such file or folder")
        if not is_sequence(spec):
            return cls(still=_read_mask_image(path, spec.max_input_pixels))
        if spec.mode != "video":
            raise DreamreelError(
                f"mask '{path}' is a folder: masks that change from frame "
                f"to frame are for video mode; give {spec.mode} one mask image"
            )
        if clip is None:
            raise DreamreelError(
                f"mask '{path}' is a clip or folder, but the render has "
                f"no input clip to read it in step with"
            )
        return cls(sequence=_Sequence(path, clip, spec.max_input_pixels))

    @property
    def active(self) -> bool:
        return self._still is not None or self._sequence is not None

    def mask_for(self, index: int, shape: tuple[int, int]) -> np.ndarray | None:
        """Frame ``index``'s mask as HxW float32 in 0..1 at ``shape`` (height, width),
        or None without a mask. The array is shared: do not change it."""
        if not self.active:
            return None
        key = None if self._sequence is None else index  # a still mask fits every frame
        shape = (int(shape[0]), int(shape[1]))
        if self._cached is not None and self._cached[:2] == (key, shape):
            return self._cached[2]
        raw = self._still if self._sequence is None else self._sequence.mask(index)
        mask = _fit(raw, shape)
        self._cached = (key, shape, mask)
        return mask

    def composite(self, index: int, start: FrameStart, result: DreamResult) -> DreamResult:
        """``result`` with its image blended onto the frame's source by the mask (the
        frame loop's step between the dream and ``mode.finish``). An image dreamed at a
        smaller octave (progress snapshots) is first enlarged to the source's size, as
        the mode would; the dream's state is left alone (it continues unmasked)."""
        if not self.active:
            return result
        source = start.image if start.source is None else start.source
        height, width = source.shape[:2]
        dreamed = resize(np.asarray(result.image, np.float32), (height, width))
        image = composite(source, dreamed, self.mask_for(index, (height, width)))
        return dataclasses.replace(result, image=image)

    def close(self) -> None:
        if self._sequence is not None:
            self._sequence.close()

    def __enter__(self) -> FrameMasks:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _Sequence:
    """A mask clip or folder read in step with the input clip: frame k of the render is
    mask frame ``clip.start_frame + k * clip.every`` (by number)."""

    def __init__(self, path: Path, clip: Clip, max_pixels: int | None):

        self.path = path
        if path.is_dir():
            _check_numbering(path)
        try:  # the whole mask, at its own size and numbering; read with the clip's range
            self.masks = open_video(path, max_pixels=max_pixels, background=BLACK)
        except DreamreelError as err:
            raise DreamreelError(f"mask: {err}") from None
        self.first, self.every = clip.start_frame, clip.every
        needed = self.first + (clip.frame_count - 1) * self.every + 1
        if self.masks.frame_count < needed:
            taken = (
                ""
                if (self.first, self.every) == (0, 1)
                else (
                    f" (the input's range starts at its frame {self.first}"
                    f"{f' and takes every {self.every}th' if self.every > 1 else ''})"
                )
            )
            raise DreamreelError(
                f"mask '{path}' has {self.masks.frame_count} frames, but the render needs "
                f"{needed}: one for each input frame up to the range's last{taken}; give a "
                f"mask as long as the input, or end the range earlier (video.end)"
            )
        self._frames: Iterator[np.ndarray] | None = None
        self._next = 0  # the render frame self._frames yields next

    def mask(self, index: int) -> np.ndarray:
        """Render frame ``index``'s mask, HxW float32 0..1 at the mask's size."""
        if self._frames is None or index < self._next:
            self.close()
            self._frames = self._stepped(self.first + index * self.every)
            self._next = index
        try:
            for _ in range(index - self._next):
                next(self._frames)
            rgb = next(self._frames)
        except StopIteration:
            raise DreamreelError(f"mask '{self.path}' ended before frame {index + 1}") from None
        except DreamreelError as err:  # a damaged mask is not a damaged input (InputEnded)
            raise DreamreelError(f"mask: {err}") from None
        self._next = index + 1
        return _luminance(rgb)

    def _stepped(self, first: int) -> Iterator[np.ndarray]:
        return islice(self.masks.frames(first=first), 0, None, self.every)

    def close(self) -> None:
        self.masks.close()
        self._frames = None


def _check_numbering(folder: Path) -> None:
    """Refuse a gap in a mask folder's numbers (mask k goes with frame k)."""
    files = numbered_frames(folder)
    numbers = [int(re.findall(r"\d+", f.stem)[-1]) for f in files]
    for before, after, name in zip(numbers, numbers[1:], (f.name for f in files)):
        if after != before + 1:
            missing = before + 1 if after == before + 2 else f"{before + 1} to {after - 1}"
            raise DreamreelError(
                f"mask folder '{folder}' has no frame {missing} (after '{name}'): its "
                f"numbering must have no gaps, so that mask k goes with frame k"
            )


def _read_mask_image(path: Path, max_pixels: int | None) -> np.ndarray:
    try:
        rgb = read_image(path, max_pixels=max_pixels, background=BLACK)
    except DreamreelError as err:
        raise DreamreelError(f"mask: {err}") from None
    return _luminance(rgb)


def _luminance(rgb: np.ndarray) -> np.ndarray:
    """RGB uint8 -> HxW float32 0..1, near-black and near-white snapped."""
    grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    grey[grey <= SNAP_LEVELS] = 0
    grey[grey >= 255 - SNAP_LEVELS] = 255
    return grey.astype(np.float32) / 255.0


def _fit(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``mask`` stretched to (height, width), values kept in 0..1."""
    height, width = shape
    if mask.shape[:2] == (height, width):
        return mask
    shrinking = height * width < mask.shape[0] * mask.shape[1]
    resized = cv2.resize(
        mask, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    )
    return np.clip(resized, 0.0, 1.0, out=resized)
