"""What a user can look at while a render runs: OUT/latest.jpg and OUT/preview.mp4.

latest.jpg: the frame just stored, as a JPEG (long side at most 1280 px), written to a
hidden temp file and renamed over the old one after every frame (on the store's worker,
behind the dream), so a viewer never opens half a file; a resumed render writes it for
the last frame it keeps, so it never shows an older run's.

preview.mp4 (``output.preview_every = N``): every N stored frames, an H.264 MP4 of the
frames so far (long side at most 640 px, no sound), renamed into place whole. It is made
on a worker thread of the lowest priority, one at a time: a preview falling due while
another is being made waits, and only the newest (they coalesce), so the dream never
waits for a preview and previews never queue up. Each one is the last one with the new
frames joined on (renderer/media/mp4_concat.py copies packets, encoding nothing again),
so a long render's previews cost one encode a frame, not one a frame per preview.

A render that completes removes preview.mp4 (with ``output.mp4 = false`` too): the name
says "unfinished", its last refresh lacks the frames after it, and what the user asked
for is there (the MP4, the GIF, the frames: ``dreamreel stitch`` makes an MP4 any time).
One interrupted or failed keeps the last complete preview. latest.jpg stays: the last frame.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from ..media.images import as_rgb, fit_long_side, video_frame_size
from ..media.mp4_concat import concat_mp4
from ..media.writer import write_mp4
from ..runtime.atomic_files import write_bytes_atomic
from ..runtime.errors import DreamreelError
from ..store.frame_names import LATEST_JPG, PREVIEW_MP4
from ..store.removal_log import remove_noted
from .pipelining import lower_this_threads_priority

LATEST_MAX_SIDE = 1280  # a glance: a 4K frame's JPEG would cost the store's worker more
LATEST_QUALITY = 85  # half the bytes of OpenCV's default 95 on dream texture; a glance
PREVIEW_MAX_SIDE = 640
PREVIEW_CRF = 23  # x264's default: the render's own MP4 keeps its CRF 15
# The new frames of a preview, encoded apart before they are joined on: hidden and
# ".partial" (never mirrored; a killed render's is swept by the next: atomic_files.py).
_NEW_FRAMES = f".{PREVIEW_MP4}.new-frames.partial"


class _Stopped(Exception):
    """The render ended while a preview was being made: it is dropped, unfinished."""


class LivePreview:
    """latest.jpg after each stored frame, preview.mp4 every ``every`` (0: never).

    ``read_frame(i)``: stored frame i (the store's PNG), read by the preview's worker;
    ``lead_in``: frames stored but never played (a zoom loop's), left out of the preview
    as out of the MP4. ``threaded=False`` (``pipeline = false``) makes each preview in
    line when it falls due. ``close()`` drops the preview being made; ``finished()``
    removes preview.mp4 once the render's own outputs are written.
    """

    def __init__(
        self,
        out_dir: Path,
        *,
        read_frame: Callable[[int], np.ndarray],
        fps: float | Fraction,
        every: int,
        lead_in: int = 0,
        threaded: bool = True,
    ):
        self.out_dir = Path(out_dir)
        self.latest_path = self.out_dir / LATEST_JPG
        self.preview_path = self.out_dir / PREVIEW_MP4
        for path in (self.latest_path, self.preview_path):
            if path.is_dir():  # links among OUT's managed names were refused before
                raise DreamreelError(
                    f"'{path}' is a folder: dreamreel keeps a view of the render there "
                    f"while it runs; move the folder or choose another --out"
                )
        self._read_frame, self._fps, self._every, self._lead_in = read_frame, fps, every, lead_in
        self._published = 0  # played frames in the preview.mp4 this run last wrote
        self._written: tuple | None = None  # that file's identity (_file_identity)
        self._wanted = 0  # stored frames the newest preview due should hold
        self._tried = 0  # stored frames of the last preview begun
        self._stop = False
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        if not every:  # an older run's, showing what this run does not refresh
            self._remove_preview()
        elif threaded:
            self._thread = threading.Thread(target=self._run, name="dreamreel-preview", daemon=True)
            self._thread.start()

    # ------------------------------------------------------------ latest.jpg

    def show(self, frame: np.ndarray) -> None:
        """Replace latest.jpg with ``frame`` (RGB uint8): the frame just stored, or on
        resume the last one kept."""
        small = np.ascontiguousarray(fit_long_side(as_rgb(frame), LATEST_MAX_SIDE))
        bgr = cv2.cvtColor(small, cv2.COLOR_RGB2BGR)
        ok, encoded = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, LATEST_QUALITY])
        if not ok:
            raise DreamreelError(f"cannot write '{self.latest_path}': OpenCV encodes no JPEG")
        write_bytes_atomic(self.latest_path, encoded.tobytes())

    def stored(self, index: int, frame: np.ndarray) -> None:
        """Frame ``index`` is stored: show it, and make a preview when one falls due."""
        self.show(frame)
        count = index + 1
        if self._every and count % self._every == 0:
            self._want(count)

    # ------------------------------------------------------------ preview.mp4

    def _want(self, count: int) -> None:
        if self._stop:
            return
        if self._thread is None:
            self._make(count)
            return
        with self._changed:
            self._wanted = max(self._wanted, count)
            self._changed.notify()

    def _run(self) -> None:
        lower_this_threads_priority()
        while True:
            with self._changed:
                while not self._stop and self._wanted <= self._tried:
                    self._changed.wait()
                if self._stop:
                    return
                count = self._tried = self._wanted  # the newest due holds the others
            self._make(count)

    def _make(self, count: int) -> None:
        """preview.mp4 anew with the first ``count`` stored frames (the played ones)."""
        played = count - self._lead_in
        if played <= self._published:
            return
        try:
            if not (self._published and self._joined_on(played)):
                self._encode(self.preview_path, 0, played)
            self._published, self._written = played, _file_identity(self.preview_path)
        except _Stopped:
            pass
        except Exception:  # a preview never fails the render: the next is made anew
            self._published = 0

    def _joined_on(self, played: int) -> bool:
        """preview.mp4 with frames published..played-1 joined on; False where the file
        is no longer the one this run wrote (removed, replaced: never read then) or does
        not take them: it is then made anew."""
        if _file_identity(self.preview_path) != self._written:
            return False
        segment = self.out_dir / _NEW_FRAMES
        try:
            self._encode(segment, self._published, played)
            self._check_stop()
            joined = concat_mp4(self.preview_path, [self.preview_path, segment], self._fps)
            return joined == played
        except _Stopped:
            raise
        except Exception:
            return False
        finally:
            with contextlib.suppress(OSError):
                segment.unlink(missing_ok=True)

    def _encode(self, path: Path, start: int, stop: int) -> None:
        """Played frames start..stop-1, reduced, into an MP4 at ``path`` (atomically)."""
        write_mp4(path, self._reduced(start, stop), self._fps, crf=PREVIEW_CRF)

    def _reduced(self, start: int, stop: int) -> Iterator[np.ndarray]:
        for position in range(start, stop):
            frame = self._read_frame(self._lead_in + position)
            self._check_stop()  # raised inside the writer: its temp file goes
            height, width = frame.shape[:2]
            size = video_frame_size(width, height, PREVIEW_MAX_SIDE)
            yield frame if size == (width, height) else _resized(frame, size)

    def _check_stop(self) -> None:
        if self._stop:
            raise _Stopped

    # ------------------------------------------------------------ the end

    def close(self) -> None:
        """No more previews; the one being made is dropped (the last complete one stays).
        latest.jpg is still written for frames stored after. Safe to repeat."""
        with self._changed:
            self._stop = True
            self._changed.notify()
        if self._thread is not None:
            self._thread.join()

    def finished(self) -> None:
        """The render's own outputs are written: the partial MP4 goes."""
        self.close()
        self._remove_preview()

    def _remove_preview(self) -> None:
        # Removal noted: a URL's copy loses it too (renderer/store/removal_log.py). One
        # that cannot be removed costs a stale preview, not the render.
        with contextlib.suppress(OSError):
            remove_noted(self.out_dir, self.preview_path)


def _file_identity(path: Path) -> tuple | None:
    """Which file is at ``path`` (not following a link); None: none."""
    try:
        found = os.lstat(path)
    except OSError:
        return None
    return (found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns)


def _resized(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA)  # INTER_AREA: no aliasing
