"""The input's size from its header, checked before TensorFlow loads (seconds): above
``max_input_pixels``, or frames too small to dream, fail at once, in one line.

Nothing is decoded: Pillow reads an image's header, PyAV a clip's stream parameters.
An input whose header cannot be read passes here: the mode that opens it says what is
wrong with it. The modes check sizes again when they open the input (renderer.render
from a notebook skips this), so this only makes the same refusal early.
"""

from __future__ import annotations

from pathlib import Path

from ..media.clip_scan import check_clip_pixels, check_decodable, display_size, stream_sar
from ..media.container import open_container, video_stream
from ..media.folder import image_size, numbered_frames
from ..media.image_header import read_image_header
from ..media.images import video_frame_size
from ..media.limits import check_input_pixels
from ..runtime.errors import DreamreelError, InputDamaged
from .modes.source import check_image_frame_side, output_size
from .modes.video import check_video_frame_side


def check_input_sizes(spec) -> None:
    """Raise DreamreelError (one line) for an input too large or frames too small."""
    if spec.mode == "morph":  # a folder and/or list of photos: each one's header
        from .modes.morph import check_morph_inputs

        check_morph_inputs(spec)
        return
    if spec.mode != "video":
        _check_image(spec)
        return
    source = Path(spec.input)
    size = _first_frame_header(source, spec) if source.is_dir() else _clip_header(source, spec)
    if size is None:  # the header does not say: the mode checks the decoded pictures
        return

    try:
        width, height = video_frame_size(*size, spec.video.max_size)
    except ValueError as err:
        raise DreamreelError(f"cannot read video '{source}': {err}") from None
    check_video_frame_side(str(source), width, height, spec.video.max_size)


def _check_image(spec) -> None:

    header = read_image_header(spec.input) if spec.input else None
    if header is None:  # noise (sizes checked by the spec), or a header Pillow cannot read
        if spec.input:
            check_image_file(Path(spec.input))
        return
    check_input_pixels(spec.input, header.width, header.height, spec.max_input_pixels)
    height, width = output_size(spec, (header.height, header.width))
    check_image_frame_side(spec.input, width, height)


def check_image_file(path: Path) -> None:
    """The same refusals reading the image gives (renderer/media/images.py), from its
    first bytes: a folder, or a file no image decoder claims (text renamed .png)."""
    import cv2

    if path.is_dir():
        raise DreamreelError(f"cannot read image '{path}': it is a folder, not a file")
    if not cv2.haveImageReader(str(path)):  # OpenCV's own signature check, no decoding
        raise InputDamaged(f"cannot read image '{path}': not an image file OpenCV can decode")


def _clip_header(source: Path, spec) -> tuple[int, int] | None:
    """(width, height) as shown (non-square pixels stretched), after the pixel limit."""
    try:
        container = open_container(source)
    except DreamreelError:
        return None  # not a clip: the mode's own error, when it opens it
    with container:
        stream = video_stream(container, source)
        # A codec FFmpeg has no decoder for: the reader's one line, now (--dry-run too).
        check_decodable(container, stream, source)
        width, height = stream.codec_context.width, stream.codec_context.height
        if not (width and height):
            return None
        sar = stream_sar(stream)
        check_clip_pixels(source, width, height, sar, spec.max_input_pixels)
        return display_size(width, height, sar)


def _first_frame_header(folder: Path, spec) -> tuple[int, int] | None:

    files = numbered_frames(folder)
    return image_size(files[0], spec.max_input_pixels) if files else None
