"""`output.interpolate = N`: the stitched video and GIF get N - 1 in-between frames after
every played frame (renderer/imaging/interpolate.py), at N times the frame rate, so that
they last exactly as long as without: every played frame takes N slots.

The rule, over the play order (renderer/rendering/stitch.py `play_order`):

* between two played frames that differ: the N - 1 in-betweens from one to the next
  (a ping-pong's way back, too);
* between a frame and its held copy (hold_last): N - 1 more copies, no in-betweens;
* after the last played frame: in-betweens back to the first where the output is a loop
  (ping-pong, or a zoom loop, which has a lead-in), else N - 1 copies (the last frame
  shown as long as the others).

A render of n played frames (no hold) gives N * n frames at fps * N. The GIF plays no
faster than 50 fps (GifWriter): it takes the in-betweens of the largest divisor of N that
keeps it there (12 fps, N = 8: 48 fps, every other in-between); its duration is the same.
Frames on disk, losses.csv and the render's identity do not change: only the encoders see
the in-betweens. The flow runs where the stitcher runs, behind the dream.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..imaging.flow import FlowEstimator
from ..imaging.interpolate import inbetweens

GIF_MAX_FPS = 50  # GifWriter: browsers slow delays under 20 ms to 100 ms


def gif_steps(fps: float, steps: int) -> int:
    """How many slots a played frame takes in the GIF: the largest divisor of `steps` whose
    rate fps * it stays within GIF_MAX_FPS (at least 1: the GIF's own fps already above)."""
    fitting = [d for d in range(1, steps + 1) if steps % d == 0 and fps * d <= GIF_MAX_FPS + 1e-9]
    return max(fitting, default=1)


class InbetweenFeed:
    """Puts the played frames, in order, and the in-betweens before each into the two
    writers: `to_video(frame)` gets every frame, `to_gif(frame)` every (steps // gif_step)-th
    slot. `play(index, frame)` for each played frame (held copies too), then `end(first)`."""

    def __init__(
        self,
        steps: int,
        *,
        gif_step: int,
        loop: bool,
        to_video: Callable[[np.ndarray], None] | None,
        to_gif: Callable[[np.ndarray], None] | None,
    ):
        self.steps, self.loop = steps, loop
        self._stride = steps // gif_step
        self._to_video, self._to_gif = to_video, to_gif
        self._estimator = FlowEstimator()  # dis/medium, the video mode's default flow
        self._prev: tuple[int, np.ndarray] | None = None

    def play(self, index: int, frame: np.ndarray) -> None:
        """Frame `index` of the render is played next: the in-betweens from the last one
        (copies, where it is the same frame held), then the frame itself."""
        if self._prev is not None:
            self._fill(self._prev[1], frame, held=self._prev[0] == index)
        self._put(frame, slot=0)
        self._prev = (index, frame)

    def end(self, first: np.ndarray | None) -> None:
        """After the last played frame: its slots towards `first` (the first played frame)
        where the output loops, copies otherwise."""
        if self._prev is None:
            return
        last = self._prev[1]
        self._fill(last, last if first is None or not self.loop else first, held=not self.loop)
        self._prev = None

    def _fill(self, a: np.ndarray, b: np.ndarray, *, held: bool) -> None:
        tweens = [a] * (self.steps - 1) if held else inbetweens(a, b, self.steps, self._estimator)
        for slot, tween in enumerate(tweens, start=1):
            self._put(tween, slot)

    def _put(self, frame: np.ndarray, slot: int) -> None:
        if self._to_video is not None:
            self._to_video(frame)
        if self._to_gif is not None and slot % self._stride == 0:
            self._to_gif(frame)
