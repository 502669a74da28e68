"""The chunk plan of a chunked video render (renderer/distributed/chunk_plan.py): pure
arithmetic."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from renderer.distributed.chunk_plan import default_chunk_count, frame_sources, plan_chunks
from renderer.rendering.spec import load_spec
from renderer.runtime.errors import DreamreelError


@settings(max_examples=300, deadline=None)
@given(
    count=st.integers(1, 400),
    chunks=st.integers(1, 12),
    warmup=st.integers(0, 20),
    crossfade=st.integers(0, 10),
    align=st.integers(1, 4),
)
def test_every_frame_comes_from_one_chunk_or_two_in_an_overlap(
    count, chunks, warmup, crossfade, align
):
    plan = plan_chunks(count, chunks, warmup=warmup, crossfade=crossfade, align=align)
    assert 1 <= len(plan) <= chunks
    assert plan[0].render_start == plan[0].keep_start == plan[0].own_start == 0
    assert plan[-1].stop == count
    # The own parts tile the clip: their lengths add up to its frame count.
    assert sum(c.stop - c.own_start for c in plan) == count
    for before, chunk in zip(plan, plan[1:]):
        assert chunk.own_start == before.stop
        assert chunk.keep_start == max(0, chunk.own_start - crossfade)
        assert chunk.keep_start >= before.own_start  # the overlap is in one chunk's own part
        assert chunk.render_start % align == 0
        assert chunk.warmup >= min(warmup, chunk.keep_start)
    for frame in range(count):
        sources = frame_sources(plan, frame)
        assert len(sources) in (1, 2)
        assert sum(s.weight for s in sources) == pytest.approx(1.0)
        assert all(0 < s.weight <= 1 for s in sources)
        for s in sources:
            chunk = plan[s.chunk]
            assert chunk.keep_start <= frame < chunk.stop
            assert s.local == frame - chunk.render_start  # never a warm-up frame
            assert s.local >= chunk.warmup
        if len(sources) == 2:
            assert sources[1].chunk == sources[0].chunk + 1
    overlapped = sum(len(frame_sources(plan, f)) == 2 for f in range(count))
    assert overlapped == sum(c.overlap for c in plan)


def test_the_cross_fade_moves_linearly_into_the_next_chunk():
    plan = plan_chunks(30, 2, warmup=5, crossfade=4)
    assert [(c.render_start, c.keep_start, c.own_start, c.stop) for c in plan] == [
        (0, 0, 0, 15),
        (6, 11, 15, 30),
    ]
    weights = [frame_sources(plan, f)[-1].weight for f in range(11, 16)]
    assert weights == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])


def test_the_default_count_follows_the_workers_but_no_chunk_is_mostly_warm_up():
    assert default_chunk_count(250, 2, warmup=8, crossfade=4) == 2
    assert default_chunk_count(250, 64, warmup=8, crossfade=4) == 10
    assert default_chunk_count(10, 8, warmup=8, crossfade=4) == 1


@pytest.mark.parametrize("setting", ["video.warmup=-1", "video.crossfade=-2", "video.chunks=-1"])
def test_chunk_settings_are_checked(setting):
    with pytest.raises(DreamreelError, match="must be >= 0"):
        load_spec("progress", ["mode=video", setting], input="clip.mp4")


@pytest.mark.parametrize("preset", ["noise-zoom", "progress"])  # video: tested by resume
def test_chunk_settings_leave_every_renders_identity_as_it_was(preset):
    """A render started before these keys existed (or with others) still resumes."""
    from renderer.rendering.modes.builtin import MODES
    from renderer.store.manifest import spec_hash

    plain = load_spec(preset, [])
    chunked = load_spec(preset, ["video.chunks=3", "video.warmup=4", "video.crossfade=2"])
    mode = MODES.get(plain.mode)
    assert "warmup" not in mode.identity(plain)["video"]
    assert spec_hash(mode.identity(chunked)) == spec_hash(mode.identity(plain))


def test_a_seam_is_weighed_against_stretches_as_long_where_flicker_swings_by_itself():
    """Cadence 4: carried pairs add ~no flicker, keyframe pairs a lot, so the median frame
    is ~0 and any seam looks huge against it; against the typical worst frame of as many
    frames elsewhere, a seam like the rest is 1x, and one twice as bad 2x."""
    from renderer.distributed.chunk_assemble import seam_report
    from renderer.imaging.stability import FrameTerms

    plan = plan_chunks(60, 2, warmup=6, crossfade=4)
    window = range(plan[1].keep_start, plan[1].own_start + 1)

    def terms(seam_factor):
        return [
            FrameTerms(
                1.0,
                None
                if f == 0
                else (1.0 if f % 4 == 0 else 0.001) * (seam_factor if f in window else 1.0),
                0.0,
            )
            for f in range(60)
        ]

    (same,) = seam_report(plan, terms(1.0))
    assert same["added_flicker_ratio"] > 100 and same["added_flicker_vs_stretches"] == 1.0
    (worse,) = seam_report(plan, terms(2.0))
    assert worse["added_flicker_vs_stretches"] == 2.0
