"""The names of a render folder's files: frames, checkpoints, loss log, manifest, plot.

OUT/frames/000001.png ...   frame index i (0-based) is file i+1
OUT/frames16/000001.png     the same frame in 16 bits (.tif: tiff16) from the dream's
                            float values, with output.frames_format png16 or tiff16
OUT/losses.csv              one row a finished frame; "frame" is the file number (1-based)
OUT/checkpoints/000001.npz  state a mode needs to resume after frame i+1 (only the latest)
OUT/manifest.json           resolved spec, spec_hash, model, versions, progress fields
OUT/losses.png              final loss per frame, drawn by renderer.loss_plot
OUT/<mode>.mp4, .gif        the stitched outputs (renderer/rendering/stitch.py); the video
                            is .mov or .mkv for the codecs that go there (output.codec)
OUT/latest.jpg              the last frame stored, replaced after each (live_preview.py)
OUT/preview.mp4             the frames so far, while a render with output.preview_every runs
OUT/.lock                   held while a render or a stitch runs (render_lock.py)

These are OUT's managed names: dreamreel writes, rewrites or deletes them, so none may be
a link out of OUT, nor hold an input (renderer/store/out_folder.py refuses both).
"""

from __future__ import annotations

import re
from pathlib import Path

from ..media.codecs import VIDEO_SUFFIXES
from .removal_log import MIRRORED_NAME, REMOVED_NAME

MANIFEST_NAME = "manifest.json"
LOSSES_CSV = "losses.csv"
LOSSES_PNG = "losses.png"
FRAMES_DIR = "frames"
FRAMES16_DIR = "frames16"
CHECKPOINTS_DIR = "checkpoints"
LOCK_NAME = ".lock"
LATEST_JPG = "latest.jpg"
PREVIEW_MP4 = "preview.mp4"

# What dreamreel writes, rewrites or deletes in OUT, whatever the mode (the removal
# notes only while OUT is a URL's staging copy, appended to in place).
MANAGED_FOLDERS = (FRAMES_DIR, FRAMES16_DIR, CHECKPOINTS_DIR)
MANAGED_FILES = (
    MANIFEST_NAME,
    LOSSES_CSV,
    LOSSES_PNG,
    LOCK_NAME,
    MIRRORED_NAME,
    REMOVED_NAME,
    LATEST_JPG,
    PREVIEW_MP4,
)

_FRAME_NAME = re.compile(r"^(\d{6,})\.png$")
_FRAME16_NAME = re.compile(r"^(\d{6,})\.(png|tif)$")
CHECKPOINT_NAME = re.compile(r"^(\d{6,})\.npz$")


def output_names(mode: str) -> tuple[str, ...]:
    """Every stitched output a render in ``mode`` may have: "zoom" -> zoom.mp4, zoom.mov,
    zoom.mkv (the video, its suffix from output.codec), zoom.gif."""
    return *(f"{mode}{suffix}" for suffix in VIDEO_SUFFIXES), f"{mode}.gif"


def frame_file_name(index: int) -> str:
    """File name of frame `index` (0-based): 0 -> "000001.png"."""
    if index < 0:
        raise ValueError(f"frame index must be >= 0, got {index}")
    return f"{index + 1:06d}.png"


def frame16_file_name(index: int, suffix: str) -> str:
    """File name of frame `index`'s 16-bit file: (0, ".tif") -> "000001.tif"."""
    return frame_file_name(index)[: -len(".png")] + suffix


def checkpoint_file_name(index: int) -> str:
    """File name of frame `index`'s checkpoint (0-based): 0 -> "000001.npz"."""
    return frame_file_name(index)[: -len(".png")] + ".npz"


def numbered_files(folder: Path, pattern: re.Pattern[str]) -> list[tuple[int, Path]]:
    """(file number, path) of the files in `folder` whose names match, in number order."""
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        match = pattern.match(path.name)
        if match and path.is_file():
            found.append((int(match[1]), path))
    return sorted(found)


def numbered_frame_files(frames_dir: Path) -> list[Path]:
    """Our frame PNGs in `frames_dir` (names like 000001.png), in frame order."""
    return [path for _, path in numbered_files(frames_dir, _FRAME_NAME)]


def numbered_frame16_files(frames16_dir: Path) -> list[Path]:
    """Our 16-bit frames in `frames16_dir` (000001.png or 000001.tif), in frame order."""
    return [path for _, path in numbered_files(frames16_dir, _FRAME16_NAME)]
