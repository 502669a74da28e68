"""Folders of numbered frames (frame_1.png, frame_2.png, ...) read as a clip."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from ..runtime.errors import DreamreelError
from .image_header import read_image_header
from .images import even_size, read_image
from .limits import check_input_pixels
from .transparency import DEFAULT_BACKGROUND

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"})


def numbered_frames(folder: str | os.PathLike) -> list[Path]:
    """The image files in `folder`, sorted by the last number in their names.

    frame_2.png comes before frame_10.png and 1000 after 999. Files that are not images
    (by suffix) and hidden files are ignored; an image without a number, or two images
    with the same number (two sequences in one folder), is a DreamreelError.
    """
    directory = Path(folder)
    if not directory.is_dir():
        what = "no such folder" if not directory.exists() else "not a folder"
        raise DreamreelError(f"cannot read frames from '{directory}': {what}")
    numbered: dict[int, Path] = {}
    for entry in directory.iterdir():
        if entry.name.startswith(".") or entry.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        if not entry.is_file():
            continue
        digits = re.findall(r"\d+", entry.stem)
        if not digits:
            raise DreamreelError(
                f"cannot read frames from '{directory}': '{entry.name}' has no frame number "
                f"in its name (move it out of the folder)"
            )
        number = int(digits[-1])
        if number in numbered:
            a, b = sorted((numbered[number].name, entry.name))
            raise DreamreelError(
                f"cannot read frames from '{directory}': '{a}' and '{b}' are both frame "
                f"{number} (one sequence per folder)"
            )
        numbered[number] = entry
    return [numbered[number] for number in sorted(numbered)]


def folder_images(folder: Path) -> list[Path]:
    """numbered_frames, refusing a folder without any."""
    files = numbered_frames(folder)
    if not files:
        suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
        raise DreamreelError(
            f"cannot read video '{folder}': the folder holds no images ({suffixes})"
        )
    return files


def common_size(
    folder: Path, files: tuple[Path, ...], max_pixels: int | None = None
) -> tuple[int, int]:
    """(width, height) shared by all `files`; a DreamreelError names the odd one out, or
    the first above `max_pixels` (from its header, before anything is decoded)."""
    width, height = image_size(files[0], max_pixels)
    for path in files[1:]:
        size = image_size(path, max_pixels)
        if size != (width, height):
            raise DreamreelError(
                f"cannot read video '{folder}': '{path.name}' is {size[0]}x{size[1]}, but "
                f"'{files[0].name}' is {width}x{height}; all frames must share one size"
            )
    return width, height


def image_size(path: Path, max_pixels: int | None = None) -> tuple[int, int]:
    """(width, height) as read_image will return it, from the header alone where possible."""
    header = read_image_header(path)
    if header is None:  # Pillow cannot parse it: let OpenCV decide (or raise its one line)
        height, width = read_image(path, max_pixels=max_pixels).shape[:2]
        return width, height
    check_input_pixels(path, header.width, header.height, max_pixels)
    return header.width, header.height


def iter_images(
    files: tuple[Path, ...],
    width: int,
    height: int,
    background: str = DEFAULT_BACKGROUND,
    max_pixels: int | None = None,
) -> Iterator[np.ndarray]:
    """Read `files` one at a time as width x height RGB uint8 (cropped to even, or
    resized with INTER_AREA for max_size or a file replaced since it was opened);
    transparent frames flattened onto `background`; a file above `max_pixels` (one
    replaced since) refused from its header."""
    for path in files:
        image = read_image(path, max_pixels=max_pixels, background=background)
        rows, cols = image.shape[:2]
        if (cols - cols % 2, rows - rows % 2) == (width, height):
            image = np.ascontiguousarray(even_size(image))
        else:
            image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
        yield image
