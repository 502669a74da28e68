"""Frame timing, duration and audio sync of a no-dream video render, on real clips.

    PYTHONPATH=. .venv/bin/python benchmarks/clip_timing_check.py CLIP [CLIP ...]
        [--start S] [--end E] [--every N] [--max-size PX] [--round near|up|down]
        [--keep DIR] [--json PATH|-]

For each clip it renders `video-quick` through the public API with dream.steps=0 (so
output frame k should be the source's picture at range start + k / fps) and checks the
MP4 against references built WITHOUT renderer.media:

* frames: the ffmpeg binary (imageio-ffmpeg's) decodes the source through
  `setpts=PTS-STARTPTS,fps=RATE` (RATE = the render's source rate, i.e. output rate x
  every; ffmpeg's fps filter holds each picture over dropped frames and gaps, and its
  autorotate applies a phone clip's display matrix), scaled (area) to the output's size,
  RGB. Reference frame n is what shows n / RATE after the first picture. The render's
  stored frames (frames/000001.png ..., lossless: H.264 noise would blur near-duplicate
  pictures) are the output; the MP4 must hold as many pictures. Output frame k is
  compared (mean absolute difference, 8-bit levels) with reference frames i-2..i+2,
  i = first + k * every, first = ceil(start * RATE); the offset of the best match is
  reported (ties between byte-identical reference frames, i.e. a held picture, go to
  the smallest |offset|). Pass: every offset within +-1. The fps filter rounds
  timestamps to the nearest slot by default (`--round`); `up` gives "the last picture
  whose time <= slot time", the player's rule, exactly, for timestamps without rounding
  error (the renderer also accepts a picture up to 1 ms / one tick late).
* duration: the MP4's video stream duration against the asked range (end clipped to the
  source's length), within half an output frame (+1 ms), as tests/test_media_timing.py
  asks of on-grid ranges.
* audio (when the source has sound): the source's audio, decoded with PyAV, mixed to
  mono at 8 kHz, placed on the source timeline from its own timestamps (silence where
  there is none: an audio track that starts late), cut at the render's first frame time
  (first picture + first / RATE) for the output's length; then cross-correlated with the
  MP4's audio (same treatment, on the MP4's timeline: video start = 0). Lag > 0: the
  output's sound is late. Pass: |lag| <= one output frame.

One summary line per clip; --json writes all the numbers (per-frame offsets included).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

AUDIO_RATE = 8000
MAX_LAG_S = 1.0
WINDOW = 2  # reference frames searched either side


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def run_ffmpeg(args: list[str]) -> bytes:
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", *args]
    done = subprocess.run(cmd, capture_output=True, check=False)
    if done.returncode:
        raise RuntimeError(
            f"ffmpeg failed ({' '.join(cmd)}): {done.stderr.decode(errors='replace')[-2000:]}"
        )
    return done.stdout


def display_size(clip: Path) -> tuple[int, int]:
    """The first picture's size as ffmpeg shows it (autorotate on), from a PGM header."""
    data = run_ffmpeg(
        [
            "-i",
            str(clip),
            "-map",
            "0:v:0",
            "-frames:v",
            "1",
            "-pix_fmt",
            "gray",
            "-c:v",
            "pgm",
            "-f",
            "image2pipe",
            "-",
        ]
    )
    fields = data.split(maxsplit=3)
    assert fields[0] == b"P5", fields[:3]
    return int(fields[1]), int(fields[2])


def rgb_frames(path: Path, width: int, height: int, filters: str = "") -> np.ndarray:
    """Every frame ffmpeg gives out of `filters`, scaled to width x height, RGB."""
    chain = ",".join(
        f for f in (filters, f"scale={width}:{height}:flags=area", "format=rgb24") if f
    )
    data = run_ffmpeg(
        [
            "-i",
            str(path),
            "-map",
            "0:v:0",
            "-vf",
            chain,
            "-fps_mode",
            "passthrough",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ]
    )
    return np.frombuffer(data, np.uint8).reshape(-1, height, width, 3)


def stored_frames(folder: Path) -> np.ndarray:
    """The render's lossless frames (frames/000001.png ...), in order."""
    from PIL import Image

    files = sorted(folder.glob("[0-9]*.png"))
    return np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files])


def iter_packets(path: Path):
    """The video packets of a file that hold a picture."""
    import av

    with av.open(str(path)) as container:
        for packet in container.demux(container.streams.video[0]):
            if packet.size:
                yield packet


def stream_facts(clip: Path) -> dict:
    """The source's container facts (PyAV, no renderer.media)."""
    import av

    with av.open(str(clip)) as container:
        video = container.streams.video[0]
        facts = {
            "format": container.format.name,
            "avg_rate": str(video.average_rate) if video.average_rate else None,
            "guessed_rate": str(video.guessed_rate) if video.guessed_rate else None,
            "has_audio": bool(container.streams.audio),
        }
        # The first picture's container time: the first frame the decoder gives out
        # (pictures before an edit list's start are dropped by the decoder).
        first = next(container.decode(video), None)
        facts["video_start_s"] = (
            float(first.pts * video.time_base)
            if first is not None and first.pts is not None
            else 0.0
        )
    return facts


def audio_track(path: Path, origin: float) -> np.ndarray | None:
    """The file's first audio stream, mono float at AUDIO_RATE, sample 0 at container
    time `origin` (samples before it dropped, silence before the first packet)."""
    import av

    with av.open(str(path)) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=AUDIO_RATE)
        pieces = []  # (start sample, samples)
        for frame in container.decode(stream):
            if frame.pts is None:
                continue
            start = float(frame.pts * frame.time_base) - origin
            offset = round(start * AUDIO_RATE)
            for out in resampler.resample(frame):
                samples = out.to_ndarray().reshape(-1)
                pieces.append((offset, samples))
                offset += len(samples)
        for out in resampler.resample(None):
            samples = out.to_ndarray().reshape(-1)
            pieces.append((pieces[-1][0] + len(pieces[-1][1]) if pieces else 0, samples))
    if not pieces:
        return None
    end = max(o + len(s) for o, s in pieces)
    track = np.zeros(max(0, end), np.float32)
    for offset, samples in pieces:
        if offset < 0:
            samples, offset = samples[-offset:], 0
        track[offset : offset + len(samples)] = samples
    return track


def audio_lag(reference: np.ndarray, output: np.ndarray) -> tuple[float, float]:
    """(lag in ms, normalised peak) of output against reference; lag > 0: output late."""
    n = min(len(reference), len(output))
    ref, out = reference[:n].astype(np.float64), output[:n].astype(np.float64)
    ref -= ref.mean()
    out -= out.mean()
    size = 1 << (2 * n - 1).bit_length()
    corr = np.fft.irfft(np.fft.rfft(out, size) * np.conj(np.fft.rfft(ref, size)), size)
    max_lag = int(MAX_LAG_S * AUDIO_RATE)
    lags = np.r_[np.arange(0, max_lag + 1), np.arange(-max_lag, 0)]
    values = np.r_[corr[: max_lag + 1], corr[-max_lag:]]
    best = int(np.argmax(values))
    norm = math.sqrt(float((ref**2).sum() * (out**2).sum())) or 1.0
    return 1000.0 * lags[best] / AUDIO_RATE, float(values[best] / norm)


def match_offsets(output: np.ndarray, reference: np.ndarray, first: int, every: int):
    """Per output frame: (best offset or None, {offset: MAD}, MAD between the reference
    pictures at the best offset and at 0, margin to the next distinct picture)."""
    rows = []  # MAD: mean absolute difference in 8-bit RGB levels
    for k, frame in enumerate(output):
        frame = frame.astype(np.float32)
        i = first + k * every
        cands = [d for d in range(-WINDOW, WINDOW + 1) if 0 <= i + d < len(reference)]
        if not cands:
            rows.append((None, None, None, None))
            continue
        mads = {d: float(np.abs(frame - reference[i + d]).mean()) for d in cands}
        best = min(cands, key=lambda d: mads[d])
        same = [d for d in cands if np.array_equal(reference[i + d], reference[i + best])]
        best = min(same, key=lambda d: (abs(d), d))
        others = [mads[d] for d in cands if d not in same]
        margin = (min(others) - mads[best]) if others else None
        # how far apart the reference pictures at the best offset and at 0 are
        gap = (
            float(np.abs(reference[i + best].astype(np.float32) - reference[i]).mean())
            if best
            else 0.0
        )
        rows.append((best, {d: round(m, 3) for d, m in mads.items()}, gap, margin))
    return rows


def render_clip(clip: Path, out: Path, args) -> tuple[object, float]:
    import renderer

    overrides = [
        "dream.steps=0",
        "video.first_steps=0",
        "video.first_octaves=1",
        f"video.every={args.every}",
        "flow.enabled=false",
        "output.gif=false",
        "output.hold_last=0",
        "video.audio=true",
        f"video.max_size={args.max_size}",
        f"video.end={args.end if args.end is not None else 1e6}",
    ]
    if args.start is not None:
        overrides.append(f"video.start={args.start}")
    began = time.perf_counter()
    result = renderer.render("video-quick", input=clip, out=out, overrides=overrides, restart=True)
    return result, time.perf_counter() - began


def check_clip(clip: Path, args, workdir: Path) -> dict:
    import av

    out = workdir / clip.stem
    result, seconds = render_clip(clip, out, args)
    video = out / "video.mp4"
    facts = stream_facts(clip)

    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        out_rate = Fraction(stream.average_rate)
        out_w, out_h = stream.codec_context.width, stream.codec_context.height
        v_duration = float(stream.duration * stream.time_base) if stream.duration else None
        v_start = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
        a_duration = None
        if container.streams.audio:
            a = container.streams.audio[0]
            a_duration = float(a.duration * a.time_base) if a.duration else None
    rate = out_rate * args.every  # the source rate the render sampled on

    src_w, src_h = display_size(clip)
    aspect_err = abs((out_w / out_h) / (src_w / src_h) - 1.0)
    reference = rgb_frames(
        clip, out_w, out_h, f"setpts=PTS-STARTPTS,fps=fps={rate}:round={args.round}"
    )
    rendered = stored_frames(out / "frames")  # exact: no H.264 noise in the match
    mp4_frames = sum(1 for _ in iter_packets(video))

    start = args.start or 0.0
    first = max(0, math.ceil(start * rate - 1e-9))
    source_seconds = len(reference) / float(rate)
    end = source_seconds if args.end is None else min(args.end, source_seconds)
    asked = end - start

    rows = match_offsets(rendered, reference, first, args.every)
    offsets = [r[0] for r in rows]
    known = [o for o in offsets if o is not None]
    margins = [r[3] for r in rows if r[3] is not None]
    frames_ok = (
        len(known) == len(offsets)
        and all(abs(o) <= 1 for o in known)
        and known
        and mp4_frames == len(rendered)
    )
    off = [
        {"k": k, "offset": r[0], "mads": r[1], "ref_gap": r[2]}
        for k, r in enumerate(rows)
        if r[0] != 0
    ]

    duration_tol = 0.5 * args.every / float(rate) + 1e-3
    duration_ok = v_duration is not None and abs(v_duration - asked) <= duration_tol

    audio = {"source_has_audio": facts["has_audio"]}
    audio_ok = True
    if facts["has_audio"]:
        origin = facts["video_start_s"] + first / float(rate)
        src = audio_track(clip, origin)
        dst = audio_track(video, v_start)
        if dst is None:
            audio.update(present=False)
            audio_ok = False
        else:
            length = int(round((v_duration or len(dst) / AUDIO_RATE) * AUDIO_RATE))
            src = np.pad(src, (0, max(0, length - len(src))))[:length]
            dst = np.pad(dst, (0, max(0, length - len(dst))))[:length]
            lag_ms, peak = audio_lag(src, dst)
            audio.update(present=True, lag_ms=lag_ms, peak=peak, output_audio_duration_s=a_duration)
            audio_ok = abs(lag_ms) <= 1000.0 * args.every / float(rate)

    return {
        "clip": str(clip),
        "source": facts | {"display_size": [src_w, src_h]},
        "render_seconds": round(seconds, 1),
        "output": {
            "rate": str(out_rate),
            "size": [out_w, out_h],
            "frames": len(rendered),
            "mp4_frames": mp4_frames,
            "result_frames": result.frames,
            "video_duration_s": v_duration,
        },
        "range": {
            "start": start,
            "end": end,
            "asked_s": asked,
            "first_source_frame": first,
            "reference_rate": str(rate),
            "reference_frames": len(reference),
        },
        "aspect_error": aspect_err,
        "frames": {
            "ok": bool(frames_ok),
            "exact": sum(1 for o in known if o == 0),
            "total": len(offsets),
            "offset_histogram": {str(d): known.count(d) for d in sorted(set(known))},
            "not_zero": off[:200],
            "median_margin": float(np.median(margins)) if margins else None,
            "weak_matches": sum(1 for m in margins if m < 0.5),
            "offsets": offsets,
        },
        "duration": {
            "ok": bool(duration_ok),
            "video_s": v_duration,
            "asked_s": asked,
            "error_ms": None if v_duration is None else 1000 * (v_duration - asked),
        },
        "audio": audio | {"ok": bool(audio_ok)},
        "pass": bool(frames_ok and duration_ok and audio_ok and aspect_err < 0.03),
    }


def summary(r: dict) -> str:
    f, d, a = r["frames"], r["duration"], r["audio"]
    hist = " ".join(f"{k}:{v}" for k, v in f["offset_histogram"].items())
    sound = (
        "no audio"
        if not a["source_has_audio"]
        else (
            "audio MISSING"
            if not a.get("present")
            else f"audio lag {a['lag_ms']:+.1f} ms (peak {a['peak']:.2f})"
        )
    )
    return (
        f"{'PASS' if r['pass'] else 'FAIL'} {Path(r['clip']).name}: "
        f"{r['output']['frames']} frames @ {r['output']['rate']} "
        f"(src {r['source']['format']} avg {r['source']['avg_rate']}), "
        f"range {r['range']['start']:g}-{r['range']['end']:g}s; frames exact "
        f"{f['exact']}/{f['total']} [offsets {hist}] margin~{f['median_margin'] or 0:.1f}; "
        f"duration {d['video_s']:.4f}s vs {d['asked_s']:.4f}s ({d['error_ms']:+.1f} ms); "
        f"{sound}; aspect err {r['aspect_error']:.3f}"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clips", nargs="+", type=Path)
    parser.add_argument("--start", type=float)
    parser.add_argument("--end", type=float)
    parser.add_argument("--every", type=int, default=1)
    parser.add_argument("--max-size", type=int, default=320)
    parser.add_argument("--round", default="near", choices=["near", "up", "down", "zero", "inf"])
    parser.add_argument("--keep", type=Path, help="render folders here (default: a temp dir)")
    parser.add_argument("--json", help="write the results here ('-': stdout)")
    args = parser.parse_args(argv)

    results = []
    with tempfile.TemporaryDirectory(prefix="clip-timing-") as tmp:
        workdir = args.keep or Path(tmp)
        for clip in args.clips:
            try:
                r = check_clip(clip.resolve(), args, workdir)
            except Exception as err:  # one broken clip must not hide the others
                r = {"clip": str(clip), "pass": False, "error": f"{type(err).__name__}: {err}"}
                print(f"FAIL {clip.name}: {r['error']}", flush=True)
            else:
                print(summary(r), flush=True)
            results.append(r)
    if args.json:
        text = json.dumps(results, indent=1)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text)
    return 0 if all(r["pass"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
