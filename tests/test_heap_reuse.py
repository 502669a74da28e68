"""heap_reuse: frame-sized temporaries are reused instead of page-faulted in anew."""

import subprocess
import sys
import textwrap

import pytest

# A zoom frame's carry (warp, colour match) at 384 px, 20 times, in a fresh process:
# prints the minor page faults per frame.
_PROBE = textwrap.dedent("""
    import resource, sys
    import numpy as np
    from renderer.runtime.allocator import reuse_freed_buffers
    from renderer.rendering.modes.zoom import ColourStats, Motion, match_colours, warp
    if sys.argv[1] == "tuned":
        assert reuse_freed_buffers()
    previous = np.random.default_rng(0).integers(0, 256, (384, 384, 3), dtype=np.uint8)
    reference = ColourStats.of(previous)
    def frame():
        match_colours(warp(previous, Motion(scale=1.03)), reference)
    for _ in range(3):
        frame()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        frame()
    print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20)
""")


def _faults_per_frame(how: str) -> float:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, how], capture_output=True, text=True, check=True
    )
    return float(done.stdout.strip())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc only")
def test_tuned_heap_reuses_a_frames_temporaries():
    untuned = _faults_per_frame("untuned")
    if untuned < 200:
        pytest.skip(f"this libc reuses the buffers by itself ({untuned:.0f} faults a frame)")
    # Each 384 px float32 temporary is 1.7 MB: ~430 faults whenever it is mapped anew.
    assert _faults_per_frame("tuned") < 50 < untuned


def test_tuning_twice_is_harmless():
    from renderer.runtime.allocator import reuse_freed_buffers

    first = reuse_freed_buffers()
    assert reuse_freed_buffers() == first
