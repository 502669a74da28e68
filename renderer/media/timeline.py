"""A clip's timeline: its constant output rate and which picture shows at each time.

Pure arithmetic on timestamps (no decoding), so every rule here is testable alone.

A player shows a picture from its presentation time until the next picture's. Frame j
of a clip is the picture shown at time j / rate (0 = the first picture), on the clip's
constant output rate: a dropped frame (an empty packet, or a gap in the timestamps)
holds the picture before it, and a variable-rate clip is sampled on its nominal or
mean rate. Containers round timestamps (to milliseconds in MKV, hundredths of a second
in GIF: 24 fps frame 3 is stamped 0.13 s, not 0.125 s), so a picture counts as shown at
j / rate when its time is at most one tick of the time base (1 ms at least, a quarter
frame at most) later.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

MAX_RATE = 240  # a "nominal" rate above this is a time base, not a frame rate
_ON_GRID = 0.25  # a timestamp within a quarter frame of the grid is on it (rounded ms ...)
_ON_GRID_SHARE = 0.9  # ... and a nominal rate needs 90% of them on it
_NOMINAL_SNAP = Fraction(1, 1000)  # 29.97 -> 30000/1001, 24.0001 -> 24
_MEAN_SNAP = Fraction(1, 200)  # a measured mean within 0.5% of a common rate is that rate
# A clip is sampled at least this often: pictures further apart (a month, a damaged
# stamp) then span the frames that MAX_FRAMES_PER_PACKET judges, not one slow frame each.
SLOWEST_RATE = Fraction(1, 1000)
# A picture may hold for many frames (a still, a dropped stretch), but a clip whose frames
# outnumber its packets a thousandfold is a damaged timestamp or header claiming a month
# of video from a few KB: a player would freeze on one picture for all of it.
MAX_FRAMES_PER_PACKET = 1000


def tidy_rate(rate: Fraction | float, tolerance: Fraction = _NOMINAL_SNAP) -> Fraction:
    """Snap a rate to the nearest whole or NTSC (n * 1000/1001) rate within `tolerance`
    (relative); otherwise keep it, as a Fraction with a denominator below 1001 (below
    1/2000 fps, where the nearest such fraction is 0: one frame every whole second)."""
    rate = Fraction(rate)
    if rate <= 0:
        raise ValueError(f"a frame rate must be positive, got {rate}")
    whole = Fraction(max(1, round(rate)))
    ntsc = Fraction(max(1, round(rate * Fraction(1001, 1000))) * 1000, 1001)
    nearest = min((whole, ntsc), key=lambda c: abs(c - rate))
    if abs(nearest - rate) <= rate * tolerance:
        return nearest
    return rate.limit_denominator(1000) or Fraction(1, round(1 / rate))


def believable_count(frames: int, packets: int) -> bool:
    """Whether a clip of `packets` video packets can last `frames` frames (see
    MAX_FRAMES_PER_PACKET): what a far timestamp or a header's count claims is not."""
    return frames <= MAX_FRAMES_PER_PACKET * max(1, packets)


@dataclass(frozen=True)
class Timeline:
    """Pictures (decodable frames) and slots (pictures + dropped frames) of one clip.

    Times are seconds from the clip's first picture; `origin` is that picture's time
    in the container (where audio is aligned).
    """

    # Sorted presentation times of the decodable pictures (Fractions: no timestamps).
    pictures: tuple[float | Fraction, ...]
    rate: Fraction  # the constant output rate
    frame_count: int  # frames at `rate` the clip lasts
    origin: float
    tolerance: float = 0.001  # seconds a rounded timestamp may lie after its true time

    @property
    def duration(self) -> Fraction:
        return self.frame_count / self.rate

    def picture_at(self, frame: int) -> int:
        """Index of the picture a player shows at frame `frame`'s time."""
        return max(0, bisect.bisect_right(self.pictures, frame / self.rate + self.tolerance) - 1)


def build_timeline(
    pictures: Sequence[float],
    dropped: Sequence[float] = (),
    end: float | None = None,
    nominal: Sequence[Fraction | None] = (),
    resolution: float = 0.0,
) -> Timeline:
    """The timeline of a clip from its packets' container times (seconds).

    `pictures`: times of packets that decode to a picture; `dropped`: times of empty
    packets (dropped frames: they take a frame's time but show nothing new); `end`: when
    the last frame ends (its time + duration), if known; `nominal`: the rates the
    container declares (guessed, average), best first; `resolution`: the seconds one
    tick of the timestamps stands for.
    """
    if not pictures:
        raise ValueError("a timeline needs at least one picture")
    origin = min(pictures)
    times = sorted({t - origin for t in pictures})
    slots = sorted({t - origin for t in (*pictures, *dropped) if t >= origin})
    end = None if end is None or end - origin <= slots[-1] else end - origin
    rate = max(_choose_rate(slots, end, [r for r in nominal if r]), SLOWEST_RATE)
    if end is None:
        end = slots[-1] + 1 / rate
    count = max(1, round(end * rate))
    tolerance = min(0.25 / float(rate), max(resolution, 0.001))
    return Timeline(tuple(times), rate, count, origin, tolerance)


def _choose_rate(slots: list[float], end: float | None, nominal: list[Fraction]) -> Fraction:
    """The first rate whose grid the timestamps sit on, of: the mean rate when it is a
    whole or NTSC rate (a GIF's 40, 40, 50 ms delays are 24 fps, not the 23.976 FFmpeg
    guesses), then the container's rates. Otherwise the mean rate (variable-rate clips).
    """
    span = (end if end is not None else slots[-1]) - slots[0]
    count = len(slots) if end is not None else len(slots) - 1
    mean = Fraction(count / span) if span > 0 and count > 0 else None
    candidates = []
    if mean is not None:
        standard = tidy_rate(mean)
        if standard.denominator in (1, 1001):
            candidates.append(standard)
    for rate in nominal:
        rate = tidy_rate(rate)
        if 0 < rate <= MAX_RATE and rate not in candidates:
            candidates.append(rate)
    for rate in candidates:
        if _fits_grid(slots, rate):
            return rate
    if mean is None:  # a single picture without a duration
        return candidates[0] if candidates else Fraction(25)
    for rate in candidates:  # a drifting phone clip: its nominal rate is close to the mean
        if abs(rate - mean) <= mean * _MEAN_SNAP:
            return rate
    return tidy_rate(mean, _MEAN_SNAP)


def _fits_grid(slots: list[float], rate: Fraction) -> bool:
    """Timestamps on the rate's grid, with at least some pictures one frame apart.

    The second condition refuses a time base posing as a rate (a GIF's 100 "fps"):
    every timestamp is on its grid, but no two frames are adjacent on it.
    """
    positions = [t * float(rate) for t in slots]
    on_grid = sum(abs(p - round(p)) <= _ON_GRID for p in positions)
    if on_grid < _ON_GRID_SHARE * len(positions):
        return False
    steps = [round(b) - round(a) for a, b in zip(positions, positions[1:])]
    return not steps or steps.count(1) >= max(1, 0.05 * len(steps))
