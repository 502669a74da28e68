"""The end of a render whose input ran out early (renderer/media/truncated_input.py).

The frames dreamed before the damage are stored and stay (a later run resumes them);
report.json says where and why it stopped. Only with the mode's opt-in key (a shorter
video is what the user accepts) are they stitched into the MP4/GIF and the render
succeeds; without it the render ends with the InputEnded error, which names the key.
"""

from __future__ import annotations

from pathlib import Path

from ..media.truncated_input import InputEnded
from ..runtime.atomic_files import write_json_atomic
from .stitch import Stitcher


def finish_short(
    stopped: InputEnded, mode, store, out_dir: Path, spec, audio, clock
) -> tuple[list[Path], dict]:
    """Report the stop, then stitch frames 0..stopped.frame-1 if the user allows a short
    render, else raise ``stopped``. Returns (the outputs, report.json's contents)."""
    if stopped.frame == 0:  # nothing to keep, report or stitch
        raise stopped
    mode.count = stopped.frame  # the frames the render has: what close() and stitch use
    with clock.stage("loss_plot"):
        store.write_loss_plot()
    with clock.stage("close"):
        summary = mode.close(store)
    report = {
        **summary.report,
        "stopped": stopped.stopped_line(),
        "partial": True,
        "frames": stopped.frame,
        "promised_frames": stopped.count,
    }
    write_json_atomic(out_dir / "report.json", report)
    if not stopped.allowed:
        raise stopped
    out = spec.output
    stitcher = Stitcher(
        out_dir,
        name=mode.name,
        fps=mode.fps,
        count=stopped.frame,
        mp4=out.mp4,
        gif=out.gif,
        gif_max_side=out.gif_max_side,
        pingpong=out.pingpong,
        hold_last=out.hold_last,
        audio=audio,
        clock=clock,
    )
    try:
        for index in range(stopped.frame):
            with clock.stage("encode_read"):
                image = store.read_frame(index)
            stitcher.add(index, image)
        outputs = stitcher.finish(store.read_frame)
    except BaseException:
        stitcher.abandon()
        raise
    return outputs + summary.files, report
