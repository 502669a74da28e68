"""How a long clip splits into chunks that render in parallel (pure: no TF, no files).

A dreamed video is a chain: frame t starts from frame t-1's dream. A chunk that began
cold at its first frame would show a fresh, unsettled dream there, so each chunk k > 0
renders from ``warmup + crossfade`` frames before its own part:

    render_start .. keep_start   warm-up: dreamed (raw frame, full steps, then carried),
                                 never shown
    keep_start   .. own_start    the overlap: the previous chunk's last frames too, blended
                                 linearly from the previous chunk into this one
    own_start    .. stop         this chunk's alone (up to the next chunk's overlap)

Frame indices are the render's (0 = the range's first frame). ``align`` (the video's
cadence) moves each render_start down to a multiple of it, so a chunk's keyframes fall
on the frames the whole render's would.
"""

from __future__ import annotations

from dataclasses import dataclass

MIN_OWN_FRAMES = 8  # an automatic chunk is no shorter: shorter ones pay mostly warm-up


@dataclass(frozen=True)
class Chunk:
    index: int
    render_start: int  # first frame the chunk dreams
    keep_start: int  # first frame it gives to the final sequence (overlap included)
    own_start: int  # first frame no earlier chunk gives
    stop: int  # end (exclusive) of its frames

    @property
    def warmup(self) -> int:
        return self.keep_start - self.render_start

    @property
    def overlap(self) -> int:
        return self.own_start - self.keep_start

    @property
    def count(self) -> int:
        """Frames the chunk renders (and stores in its own folder)."""
        return self.stop - self.render_start

    def local(self, frame: int) -> int:
        """The chunk folder's index of the render's frame ``frame``."""
        return frame - self.render_start


@dataclass(frozen=True)
class Source:
    """Where one final frame comes from: chunk ``chunk``'s frame ``local``, times weight."""

    chunk: int
    local: int
    weight: float


def plan_chunks(
    count: int, chunks: int, *, warmup: int, crossfade: int, align: int = 1
) -> list[Chunk]:
    """``count`` frames in ``chunks`` near-equal parts (fewer when the clip is too short
    for every part to hold its successor's cross-fade)."""
    if count < 1 or chunks < 1 or warmup < 0 or crossfade < 0 or align < 1:
        raise ValueError(f"bad chunk plan: {count=} {chunks=} {warmup=} {crossfade=} {align=}")
    # Each overlap lies in the previous chunk's own part, so a frame has at most 2 sources.
    chunks = max(1, min(chunks, count // (crossfade + 1)))
    bounds = [count * k // chunks for k in range(chunks + 1)]
    plan = []
    for k in range(chunks):
        own, stop = bounds[k], bounds[k + 1]
        keep = max(0, own - crossfade) if k else 0
        start = max(0, keep - warmup) if k else 0
        start -= start % align
        plan.append(Chunk(k, start, keep, own, stop))
    return plan


def default_chunk_count(count: int, workers: int, *, warmup: int, crossfade: int) -> int:
    """One chunk per worker, but none shorter than its warm-up and overlap are worth."""
    longest = max(MIN_OWN_FRAMES, 2 * (warmup + crossfade))
    return max(1, min(workers, count // longest))


def frame_sources(plan: list[Chunk], frame: int) -> list[Source]:
    """Chunk frames that make the render's frame ``frame`` (weights add up to 1)."""
    for chunk in reversed(plan):
        if chunk.keep_start <= frame < chunk.stop:
            break
    else:
        raise ValueError(f"frame {frame} is in no chunk")
    if frame >= chunk.own_start:
        return [Source(chunk.index, chunk.local(frame), 1.0)]
    before = plan[chunk.index - 1]
    # Linear across the overlap, never all of either end: the seam has no step.
    weight = (frame - chunk.keep_start + 1) / (chunk.overlap + 1)
    return [
        Source(before.index, before.local(frame), 1.0 - weight),
        Source(chunk.index, chunk.local(frame), weight),
    ]


def solo_range(plan: list[Chunk], index: int) -> range:
    """The final frames chunk ``index`` gives alone (no cross-fade): from its own start to
    the next chunk's overlap (or its end)."""
    chunk = plan[index]
    return range(
        chunk.own_start, plan[index + 1].keep_start if index + 1 < len(plan) else chunk.stop
    )
