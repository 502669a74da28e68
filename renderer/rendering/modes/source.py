"""The image a render starts from: the input photo or seeded noise, at the output size."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from ...engine.dream import octave_note
from ...imaging.noise import make_noise
from ...media.image_header import read_image_header
from ...media.images import read_image
from ...media.limits import check_frame_side, check_input_pixels
from ...media.reader import Clip, open_video

if TYPE_CHECKING:
    from ..spec import RenderSpec


def output_size(spec: RenderSpec, input_shape: tuple[int, int] | None) -> tuple[int, int]:
    """(height, width): given sizes win; one given side keeps the input's aspect ratio."""
    if input_shape is None:
        input_shape = (spec.height or spec.width or 512, spec.width or spec.height or 512)
    in_h, in_w = input_shape
    if spec.width and spec.height:
        return spec.height, spec.width
    if spec.width:
        return max(16, round(in_h * spec.width / in_w)), spec.width
    if spec.height:
        return spec.height, max(16, round(in_w * spec.height / in_h))
    return in_h, in_w


def frame_shape(spec: RenderSpec) -> tuple[int, int]:
    """(height, width) of the frames, from the input's header where Pillow reads it (no
    decoding: the pixel limit applies first), else from the decoded input."""
    if not spec.input:
        return output_size(spec, None)
    header = read_image_header(spec.input)
    if header is None:
        shape = read_image(spec.input, max_pixels=spec.max_input_pixels).shape[:2]
    else:
        check_input_pixels(spec.input, header.width, header.height, spec.max_input_pixels)
        shape = (header.height, header.width)
    height, width = output_size(spec, shape)
    check_image_frame_side(spec.input, width, height)
    return height, width


def octave_notes(
    spec: RenderSpec, height: int, width: int, first_octaves: int | None = None, first_key: str = ""
) -> list[str]:
    """At most one line: the octaves frames of height x width drop, for the most octaves
    a frame asks for (dream.octaves, or the first frame's own count)."""
    asks = [(spec.dream.octaves, "dream.octaves")]
    if first_octaves is not None:
        asks.append((first_octaves, first_key))
    octaves, key = max(asks, key=lambda ask: ask[0])
    note = octave_note(height, width, octaves, spec.dream.octave_scale, key)
    return [note] if note else []


def check_image_frame_side(source: str, width: int, height: int) -> None:
    """Refuse an output size too small to dream (an input this small, kept as it is)."""
    check_frame_side(
        width,
        height,
        f"frames from {Path(source).name}",
        "give a larger size with width/height (--size WxH)",
    )


def source_image(spec: RenderSpec) -> np.ndarray:
    """The input photo (or seeded noise) at the output size, RGB float32 0..255."""
    if spec.input:
        image = read_image(
            spec.input, max_pixels=spec.max_input_pixels, background=spec.input_background
        )
        height, width = output_size(spec, image.shape[:2])
        check_image_frame_side(spec.input, width, height)
        interpolation = cv2.INTER_AREA if height < image.shape[0] else cv2.INTER_CUBIC
        return cv2.resize(image, (width, height), interpolation=interpolation).astype(np.float32)
    height, width = output_size(spec, None)
    return make_noise(height, width, kind=spec.noise, seed=spec.seed).astype(np.float32)


def open_render_clip(spec: RenderSpec, *, max_size: int | None | str = "spec") -> Clip:
    """The render's clip over its range (video.start/end, every...): the frames the video
    mode reads, scaled to video.max_size ("spec"), another long side, or None (unscaled:
    the range alone)."""
    v = spec.video
    return open_video(
        spec.input,
        start=v.start,
        end=v.end,
        start_frame=v.start_frame,
        end_frame=v.end_frame,
        every=v.every,
        max_size=v.max_size if max_size == "spec" else max_size,
        folder_fps=spec.fps,
        max_pixels=spec.max_input_pixels,
        background=spec.input_background,
    )
