"""Encode a render's frames into `<name>.mp4` (or .mov, .mkv: output.codec) and `<name>.gif`.

`Stitcher` encodes them live, as the frame loop stores each frame (on its worker thread),
so that after the last dream only the encoders' tails are left: the frames x264 still
holds, the pingpong's way back, the GIF file itself. `stitch` feeds the same Stitcher
from a folder's PNGs (`dreamreel stitch`), so both give the same bytes. The MP4 holds one
frame at a time; the GIF holds its downscaled 256-colour frames until the file is written.
A render's first `lead_in` frames (manifest "lead_in": a zoom loop's, modes/zoom.py) are
stored but never played.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..media.audio import AudioSource
from ..media.codecs import CODECS
from ..media.images import read_image
from ..media.writer import GifWriter, Mp4Writer, check_fps
from ..runtime.atomic_files import user_os_errors, write_json_atomic
from ..runtime.errors import DreamreelError
from ..store.frame_names import FRAMES_DIR, MANIFEST_NAME, numbered_frame_files, output_names
from ..store.frame_store import done_frame_count, read_manifest
from ..store.removal_log import remove_noted
from ..store.render_lock import render_lock
from .inbetween_feed import InbetweenFeed, gif_steps
from .pipelining import Ahead
from .recipe import recipe_text
from .spec import MAX_INTERPOLATE, OutputSettings, output_settings
from .stage_clock import NULL_CLOCK

# Stitching's own defaults: both files, nothing held at the end (a render passes its
# spec's output table).
PLAIN = OutputSettings(hold_last=0.0)


def play_order(
    count: int, *, fps: float, pingpong: bool = False, hold_last: float = 0.0, lead_in: int = 0
) -> list[int]:
    """Frame indices in playing order.

    pingpong: 0..n-1 then n-2..1, so the loop repeats neither end frame (2n-2 frames).
    hold_last: the last frame (the final image) shown round(hold_last * fps) extra times;
    with pingpong it is held where the loop turns, before the way back.
    lead_in: frames 0..lead_in-1 are not played; the order starts at lead_in.
    """
    forward = list(range(lead_in, count))
    extra = max(0, round(hold_last * fps)) if forward else 0
    back = forward[-2:0:-1] if pingpong else []
    return forward + [count - 1] * extra + back


def _check_settings(name: str, fps: float, hold_last: float) -> float:
    fps = check_fps(fps)
    if not (hold_last >= 0 and hold_last != float("inf")):
        raise DreamreelError(f"hold_last must be a number of seconds >= 0, got {hold_last}")
    if not name or Path(name).name != name or name in (".", ".."):
        raise DreamreelError(f"output name must be a plain file name, got {name!r}")
    return fps


class Stitcher:
    """Writes out_dir/<name>.mp4 and/or <name>.gif from frames given as they are made.

    `add(i, frame)` for i = 0, 1, ..., count-1 in order, then `finish(read_frame)`, which
    adds what `play_order` repeats (hold_last: the last frame, held here; pingpong's way
    back: the MP4 reads frames n-2..1 through `read_frame(i)`, the GIF reuses its reduced
    ones) and closes both files. `abandon()` (or any encoder error) deletes what was begun.
    `clock` (a StageClock) gets the encoders' seconds as "encode_mp4" and "encode_gif".
    `threaded=False` saves the GIF in line rather than beside the MP4's last frames.
    `lead_in`: frames 0..lead_in-1 are given to `add` like the others but not encoded.
    `recipe`: the render's recipe (renderer/rendering/recipe.py), the MP4's comment tag
    and the GIF's comment. The video is encoded as output.codec etc. say, into the file
    its container names (zoom.mp4, zoom.mov, zoom.mkv); once both are written, `finish`
    removes the stitched outputs of `name` these settings no longer make.
    """

    def __init__(
        self,
        out_dir: str | Path,
        *,
        name: str,
        fps: float,
        count: int,
        output: OutputSettings = PLAIN,
        audio: AudioSource | None = None,
        clock=NULL_CLOCK,
        threaded: bool = True,
        lead_in: int = 0,
        recipe: str | None = None,
    ):
        out_dir = Path(out_dir)
        mp4, gif, pingpong, hold_last = output.mp4, output.gif, output.pingpong, output.hold_last
        gif_max_side = output.gif_max_side
        fps = _check_settings(name, fps, hold_last)
        if lead_in < 0:
            raise ValueError(f"lead_in must be >= 0, got {lead_in}")
        if count - lead_in < 1:
            skipped = f" (the {count} there are a lead-in, never played)" if count > 0 else ""
            raise DreamreelError(f"no frames to stitch into '{out_dir / name}'{skipped}")
        self.count = count
        self.lead_in = lead_in
        self._out_dir, self._name = out_dir, name
        self.order = play_order(
            count, fps=float(fps), pingpong=pingpong, hold_last=hold_last, lead_in=lead_in
        )
        self._clock = clock
        # output.interpolate: N slots a played frame at N times the rate (inbetween_feed.py)
        steps = _check_interpolate(output.interpolate)
        gif_step = gif_steps(float(fps), steps)
        self._mp4 = (
            _video_writer(out_dir, name, fps * steps, output, audio, recipe) if mp4 else None
        )
        self._gif = (
            GifWriter(
                out_dir / f"{name}.gif",
                fps * gif_step,
                loop=True,
                max_side=gif_max_side,
                comment=recipe,
            )
            if gif
            else None
        )
        self._feed = (
            None
            if steps == 1
            else InbetweenFeed(
                steps,
                gif_step=gif_step,
                loop=pingpong or lead_in > 0,  # a ping-pong or a zoom loop: seamless
                to_video=self._video_add if mp4 else None,
                to_gif=self._gif_add if gif else None,
            )
        )
        self._first: np.ndarray | None = None  # the first played frame, for the loop's seam
        self._next = 0  # the index add expects
        self._last: np.ndarray | None = None  # the last frame, for hold_last
        self._ended = False
        self._gif_written = False  # by finish(), on its worker
        self._threaded = threaded  # False: the sequential loop (pipeline = false), all in line

    def add(self, index: int, frame: np.ndarray) -> None:
        """Encode frame `index` (RGB uint8); frames come in order, each once. A lead-in
        frame is not encoded (it may be None)."""
        if self._ended:
            raise ValueError("this Stitcher has finished or was abandoned")
        if index != self._next or index >= self.count:
            expected = (
                f"frame {self._next} expected"
                if self._next < self.count
                else f"all {self.count} frames given already"
            )
            raise ValueError(f"frame {index} given to the stitcher, {expected}")
        try:
            if self._feed is not None and index >= self.lead_in:
                self._feed.play(index, frame)  # the in-betweens, then the frame
                if index == self.lead_in and self._feed.loop:
                    self._first = frame
            elif index >= self.lead_in:
                if self._mp4 is not None:
                    self._video_add(frame)
                if self._gif is not None:
                    self._gif_add(frame)
        except BaseException:
            self.abandon()
            raise
        self._next += 1
        if self._next == self.count:
            self._last = frame  # nothing changes it now that the render is done

    def finish(self, read_frame: Callable[[int], np.ndarray]) -> list[Path]:
        """Add the frames play_order repeats, close the files; return them (MP4 first)."""
        if self._ended or self._next != self.count:
            raise ValueError(
                f"the stitcher got {self._next} of {self.count} frames"
                + (" and has ended" if self._ended else "")
            )
        repeats = self.order[self.count - self.lead_in :]
        if self._feed is not None:  # the repeats and the end's slots, in-betweens and all
            try:
                for index in repeats:
                    held = index == self.count - 1  # the last frame: held, or turned at
                    self._feed.play(index, self._last if held else read_frame(index))
                self._feed.end(self._first)
            except BaseException:
                self.abandon()
                raise
            repeats = []
        written = []
        # The GIF is saved on a worker while x264 encodes the frames its lookahead still
        # holds: both are all that is left after the last frame (Pillow and x264 release
        # the GIL). threaded=False when there is nothing to overlap it with.
        gif = Ahead(
            lambda _: self._close_gif(repeats),
            [0] if self._gif else [],
            depth=1,
            threaded=self._threaded and self._mp4 is not None,
            name="gif",
        )
        try:
            if self._mp4 is not None:
                with self._clock.stage("encode_mp4"):
                    for index in repeats:
                        self._mp4.add(self._last if index == self.count - 1 else read_frame(index))
                    self._mp4.close()
                written.append(self._mp4.path)
            written.extend(gif)  # raises the GIF's error, if it had one
        except BaseException:
            gif.close()  # waits for the GIF: its file is then complete, or never begun
            if self._gif_written:  # both outputs or neither
                self._gif.path.unlink(missing_ok=True)
            self.abandon()
            raise
        self._ended = True
        self._last = self._first = None
        remove_stale_outputs(self._out_dir, self._name, written)
        return written

    def _video_add(self, frame: np.ndarray) -> None:
        assert self._mp4 is not None  # called only with one
        with self._clock.stage("encode_mp4"):
            self._mp4.add(frame)

    def _gif_add(self, frame: np.ndarray) -> None:
        assert self._gif is not None  # called only with one
        with self._clock.stage("encode_gif"):
            self._gif.add(frame)

    def _close_gif(self, repeats) -> Path:
        with self._clock.stage("encode_gif"):
            for index in repeats:
                self._gif.repeat(index - self.lead_in)  # the GIF holds the played ones
            self._gif.close()
        self._gif_written = True
        return self._gif.path

    def abandon(self) -> None:
        """Stop and delete the outputs not yet complete (a render that failed or was
        interrupted); files already in place stay. Safe to repeat."""
        self._ended = True
        self._last = self._first = None
        for writer in (self._mp4, self._gif):
            if writer is not None:
                writer.abandon()


def _check_interpolate(steps) -> int:
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_INTERPOLATE:
        raise DreamreelError(
            f"output.interpolate must be a whole number from 1 (off) to {MAX_INTERPOLATE}, "
            f"got {steps!r}"
        )
    return steps


def _video_writer(
    out_dir: Path,
    name: str,
    fps: float,
    output: OutputSettings,
    audio: AudioSource | None,
    recipe: str | None,
) -> Mp4Writer:
    """The video's writer, as output.codec/.pixel_format/.crf/.preset say; its file's
    suffix follows the codec's container (zoom.mp4, zoom.mov, zoom.mkv)."""
    suffix = CODECS[output.codec].suffix
    return Mp4Writer(
        out_dir / f"{name}{suffix}",
        fps,
        audio=audio,
        comment=recipe,
        codec=output.codec,
        pixel_format=output.pixel_format,
        crf=output.crf,
        preset=output.preset,
    )


def remove_stale_outputs(out_dir: Path, name: str, written: list[Path]) -> list[Path]:
    """Delete the stitched outputs of `name` that these settings did not make (zoom.mp4
    after a switch to ProRes's zoom.mov; zoom.gif after output.gif = false): only
    dreamreel's own names, only plain files (a link there is left alone, never
    followed). Return the removed ones."""
    made = {path.name for path in written}
    removed = []
    for other in output_names(name):
        path = out_dir / other
        if other not in made and not path.is_symlink() and path.is_file():
            with user_os_errors(path, "remove"):
                remove_noted(out_dir, path)  # noted: a URL's copy loses it too
            removed.append(path)
    return removed


def stitch(
    out_dir: str | Path,
    *,
    name: str,
    fps: float,
    count: int | None = None,
    output: OutputSettings = PLAIN,
    audio: AudioSource | None = None,
    clock=NULL_CLOCK,
    lead_in: int = 0,
    recipe: str | None = None,
) -> list[Path]:
    """Write out_dir/<name>.mp4 and/or <name>.gif from out_dir/frames/*.png; return them.

    `count` takes only the first that many frames (e.g. the done ones of a resumed run).
    `lead_in`: the first that many are not played (a zoom loop's lead-in).
    `audio` (a video render's `clip.audio`) puts the clip's sound under the MP4.
    `clock` (a StageClock) gets the seconds of each as "encode_mp4" and "encode_gif", and
    of reading the PNGs back as "encode_read". `recipe`: the text both files carry.
    """
    out_dir = Path(out_dir)
    _check_settings(name, fps, output.hold_last)
    frames_dir = out_dir / FRAMES_DIR
    paths = numbered_frame_files(frames_dir)
    if count is not None:
        if count > len(paths):
            raise DreamreelError(
                f"{frames_dir} holds {len(paths)} frames, fewer than the {count} to stitch"
            )
        paths = paths[: max(0, count)]
    if not paths:
        raise DreamreelError(f"no frames in {frames_dir} to stitch")

    def read_frame(index: int) -> np.ndarray:
        with clock.stage("encode_read"):
            return read_image(paths[index])

    stitcher = Stitcher(
        out_dir,
        name=name,
        fps=fps,
        count=len(paths),
        output=output,
        audio=audio,
        clock=clock,
        lead_in=lead_in,
        recipe=recipe,
    )
    try:
        for index in range(len(paths)):
            # A lead-in frame is never encoded: no need to read it.
            stitcher.add(index, read_frame(index) if index >= lead_in else None)
        return stitcher.finish(read_frame)
    except BaseException:
        stitcher.abandon()
        raise


def stitch_from_manifest(out_dir: str | Path, overrides: Sequence[str] = ()) -> list[Path]:
    """`dreamreel stitch OUT_DIR`: stitch the done frames with the settings in manifest.json
    (and a video render's recorded fps and sound), both files carrying its recipe.

    Done frames are those with a PNG and a losses.csv row (FrameStore's rule), in every mode.
    `overrides` (``--set output.codec=prores``...: output.* only, nothing that changes the
    frames) re-encode them otherwise, without dreaming: the manifest records the new output
    table, and the outputs the new settings no longer make are removed (Stitcher.finish).
    """
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise DreamreelError(f"cannot stitch '{out_dir}': no such folder")
    # A render running there is still adding frames and encoding its own MP4/GIF.
    with render_lock(out_dir, purpose="stitch"):
        return _stitch_folder(out_dir, overrides)


def _stitch_folder(out_dir: Path, overrides: Sequence[str] = ()) -> list[Path]:
    manifest = read_manifest(out_dir)
    if manifest is None:
        raise DreamreelError(
            f"cannot stitch '{out_dir}': no manifest.json there (not a dreamreel render folder)"
        )
    spec = manifest["spec"]
    output = spec.get("output") or {}
    try:
        name = str(spec["mode"])
        fps = float(manifest.get("fps") or spec["fps"])  # a clip's own fps, when recorded
        # An old manifest without hold_last held nothing.
        settings = output_settings({"hold_last": 0.0, **output}, overrides)
        lead_in = int(manifest.get("lead_in", 0))  # frames stored but not played
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise DreamreelError(
            f"cannot stitch '{out_dir}': manifest.json lacks a usable mode/fps/output ({err!r})"
        ) from err
    if overrides:  # the recipe the new files carry names their own output settings
        manifest = {**manifest, "spec": {**spec, "output": dataclasses.asdict(settings)}}
    count = done_frame_count(out_dir)
    if count <= 0:
        raise DreamreelError(f"no frames in {out_dir / FRAMES_DIR} to stitch")
    try:
        audio = AudioSource.from_dict(manifest["audio"]) if manifest.get("audio") else None
    except (TypeError, ValueError, AttributeError) as err:
        raise DreamreelError(
            f"cannot stitch '{out_dir}': manifest.json has an unusable audio entry ({err})"
        ) from err
    if audio is not None:
        _check_sound_source(out_dir, Path(audio.path))
    written = stitch(
        out_dir,
        name=name,
        fps=fps,
        count=count,
        output=settings,
        audio=audio,
        lead_in=lead_in,
        recipe=_recipe(manifest),
    )
    if overrides:
        write_json_atomic(out_dir / MANIFEST_NAME, manifest)
    return written


def _recipe(manifest: dict) -> str | None:
    """The text the render's own MP4 and GIF carry; None (files without one) where the
    manifest holds what this dreamreel cannot write as a recipe (a newer one's mode)."""
    try:
        return recipe_text(manifest)
    except (DreamreelError, KeyError, TypeError, AttributeError):
        return None


def _check_sound_source(out_dir: Path, source: Path) -> None:
    """The clip whose sound goes under the MP4 must still be there. Renders record it as
    an absolute path; manifests of older versions kept the --input as typed, relative to
    the folder the render ran in."""
    if source.is_file():
        return
    if not source.is_absolute():
        raise DreamreelError(
            f"cannot stitch '{out_dir}': its sound comes from '{source}', a path relative to "
            f"the folder the render ran in (manifest.json of an older dreamreel); run "
            f"dreamreel stitch from that folder"
        )
    raise DreamreelError(
        f"cannot stitch '{out_dir}': its sound comes from '{source}', which is gone; put the "
        f"clip back there to stitch it with its sound"
    )
