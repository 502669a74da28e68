"""The ``dreamreel`` commands: each takes the parsed arguments and returns an exit
status (renderer/cli/main.py parses them, and turns a DreamreelError into one line)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..distributed.batch_jobs import check_jobs, read_jobs
from ..distributed.batch_run import run_on_ray, run_one_by_one, summary_rows
from ..models.class_labels import class_names, short_name
from ..rendering.preflight import check_before_loading, check_out_folder
from ..rendering.spec_toml import spec_to_toml
from ..runtime.atomic_files import write_json_atomic
from ..runtime.errors import DreamreelError
from ..runtime.redaction import redacted
from ..store.manifest import dreamreel_version
from ..store.out_folder import check_writable
from ..store.shared_storage import is_url, seen_from, staged
from .doctor import check, run_doctor
from .messages import Messages
from .progress_bar import jobs_bar, step_bar
from .shorthand_flags import shorthand_overrides

# `--json` with no PATH (bench, stability): the document on stdout.
STDOUT = "-"


def _say(args, message: str) -> None:
    """An info line on stderr (not with --quiet), above a live bar; a URL's password hidden."""
    Messages(getattr(args, "quiet", False)).info(message)


def print_json(args, document: dict) -> None:
    """The command's one JSON document on stdout (main.py prints an error object instead
    when the command fails before it)."""
    print(json.dumps(document, indent=2))
    args.printed_json = True


def cmd_render(args) -> int:
    # Everything a user can get wrong is checked before TensorFlow loads (seconds).
    spec = _render_spec(args, args.overrides)
    shorthands = shorthand_overrides(spec.mode, seed=args.seed, frames=args.frames, size=args.size)
    if shorthands:  # after the --set's, through the same checks
        spec = _render_spec(args, [*args.overrides, *shorthands])
    check_before_loading(spec)
    from ..rendering.default_out import default_out  # lazy: loads OpenCV, numpy

    out_dir = args.out or default_out(spec)  # a folder of this recipe's own
    if not is_url(out_dir):  # links, inputs and a foreign manifest in OUT: --dry-run says so too
        check_out_folder(spec, Path(out_dir), restart=args.restart)
    if args.dry_run:
        print(spec_to_toml(spec, _dry_run_heading(out_dir, args.restart)), end="")
        return 0

    check_writable(out_dir)
    messages = Messages(args.quiet)
    if args.ray or args.chunks is not None:
        return _render_in_chunks(args, spec, out_dir, messages)

    from ..rendering.finished_render import FinishedRender  # lazy: loads OpenCV, numpy
    from ..rendering.render_preset import render  # lazy: loads OpenCV, Pillow, numpy

    # The frame count comes with the mode (a clip's own length); the first call says it.
    with step_bar(
        None, quiet=args.quiet, desc=spec.name, unit="frame", style=args.progress
    ) as advance:
        # With a track, --frames N keeps the first N of the track's frames.
        result = render(
            spec,
            out=out_dir,
            restart=args.restart,
            max_frames=spec.frames if args.frames is not None else None,
            announce=messages.announce,  # above the bar, not into it
            progress=lambda done, total, loss: advance(done, total, loss=loss),
        )
    finished = isinstance(result, FinishedRender)
    resumed = result.frames - result.rendered
    note = f" ({resumed} resumed from an earlier run)" if resumed and not finished else ""
    loss = f", final loss {result.final_loss:.4f}" if result.final_loss is not None else ""
    names = ", ".join(p.name for p in result.outputs)
    outputs = f" and {names}" if names else ""  # none with output.mp4 and .gif false
    if finished:  # the numbers its run recorded
        messages.info(
            f"{out_dir} holds its {result.frames} frames{outputs}, rendered in "
            f"{result.seconds:.1f} s{loss}"
        )
    else:
        messages.info(
            f"wrote {result.frames} frames{note}{outputs} to {out_dir} "
            f"in {result.seconds:.1f} s{loss}"
        )
    if "summary" in result.report:
        cuts = result.report.get("cuts")
        messages.info(result.report["summary"] + (f"; scene cuts at frames {cuts}" if cuts else ""))
    if result.profile:  # where the time went; the full table is in manifest.json
        messages.info("time: " + result.profile["summary"])
    if "stopped" in result.report:  # a short render the user allowed
        messages.warn(
            f"the input {result.report['stopped']}; the video holds "
            f"the {result.frames} frames before it"
        )
    if args.json:
        print_json(args, _render_document(result, out_dir, finished))
    return 0


def _render_document(result, out_dir, finished: bool) -> dict:
    """``render --json``: what the render made, for a script."""
    report = {
        key: result.report[key] for key in ("summary", "cuts", "stopped") if key in result.report
    }
    return {
        "out": redacted(str(out_dir)),
        "mode": result.mode,
        "frames": result.frames,
        "rendered": result.rendered,
        "resumed": result.frames - result.rendered,
        "finished_already": finished,  # nothing to do: the numbers are its recorded run's
        "outputs": [redacted(str(p)) for p in result.outputs],
        "seconds": round(result.seconds, 2),
        "final_loss": result.final_loss,
        "report": report,
        "time": result.profile.get("summary"),
    }


def _render_spec(args, overrides: list[str]):
    """The preset with the --set's and the --input's: a morph takes every --input as its
    photos, in order (the first as its input, the rest before the preset's morph.images);
    other modes take one, and a repeat is refused rather than dropped."""
    from ..rendering.spec import load_spec  # lazy: loads OpenCV, numpy

    inputs = args.input or []
    first = inputs[0] if inputs else None
    spec = load_spec(args.preset, overrides, input=first, audio=args.audio)
    if len(inputs) < 2:
        return spec
    if spec.mode != "morph":
        raise DreamreelError(
            f"--input given {len(inputs)} times; a {spec.mode} render takes one input "
            f"(only morph takes several photos): give one --input"
        )
    return load_spec(spec, morph={"images": [*inputs[1:], *spec.morph.images]})


def _dry_run_heading(out_dir, restart: bool) -> str:
    """A comment line before the dry run's TOML (it still reads back as the same spec):
    where the render would go and what it would find there."""
    from ..store.frame_store import what_a_render_finds  # lazy: loads numpy

    found = "" if is_url(out_dir) else f" ({what_a_render_finds(out_dir, restart)})"
    return f"# output: {redacted(str(out_dir))}{found}\n"


def _render_in_chunks(args, spec, out_dir: Path, messages: Messages) -> int:
    # lazy: loads OpenCV, numpy
    from ..distributed.chunk_render import check_chunkable, render_chunked

    check_chunkable(spec)
    if args.chunks is not None and args.chunks < 1:
        raise DreamreelError(f"--chunks must be >= 1, got {args.chunks}")
    if args.ray:
        _require_ray()
    messages.info(
        f"dreamreel {dreamreel_version()}: rendering {spec.name} (video, in chunks) into {out_dir}"
    )
    with jobs_bar(0, quiet=args.quiet, desc=spec.name, style=args.progress) as bar:
        result = render_chunked(
            spec,
            out=out_dir,
            chunks=args.chunks,
            ray=args.ray,
            address=args.address,
            restart=args.restart,
            announce=messages.announce,  # above the bar, not into it
            bar=bar,
        )
    messages.info(
        f"wrote {result.frames} frames from {result.chunks} chunks and "
        f"{', '.join(p.name for p in result.outputs)} to {out_dir}"
    )
    messages.info(result.report["summary"])
    for seam in result.report["seams"]:
        # Added flicker (E_warp of the output less the source's): a jolt in the clip
        # itself near a seam is not the seam's. Where the flicker swings by itself
        # (cadence, music), the typical stretch's worst frame is the fairer yardstick.
        messages.info(
            f"seam at frames {seam['frames'][0]}-{seam['frames'][1]}: added flicker "
            f"{seam['added_flicker_ratio']}x the median frame elsewhere, "
            f"{seam['added_flicker_vs_stretches']}x a typical stretch's worst; "
            f"dream strength {seam['dream_strength_ratio']}x"
        )
    if args.json:
        print_json(
            args,
            {
                "out": redacted(str(out_dir)),
                "mode": "video",
                "frames": result.frames,
                "chunks": result.chunks,
                "rendered": result.rendered,
                "resumed": result.frames - result.rendered,
                "outputs": [redacted(str(p)) for p in result.outputs],
                "seconds": round(result.seconds, 2),
                "report": {k: result.report[k] for k in ("summary", "seams") if k in result.report},
            },
        )
    return 0


def _require_ray() -> None:
    try:
        import ray  # noqa: F401
    except ImportError:
        raise DreamreelError("--ray needs Ray: pip install 'dreamreel[ray]'") from None


def cmd_batch(args) -> int:
    jobs = read_jobs(args.jobs, args.out)
    specs = check_jobs(jobs, args.jobs.name)  # a typo in the last job stops the first
    on_ray = args.ray
    if on_ray is None:  # Ray if it is installed, else one after another
        try:
            import ray  # noqa: F401

            on_ray = True
        except ImportError:
            on_ray = False
            _say(
                args,
                "dreamreel: Ray is not installed: the jobs run one after another "
                "(pip install 'dreamreel[ray]' to run them in parallel)",
            )
    elif on_ray:
        _require_ray()
    where = "on Ray" if on_ray else "one after another"
    _say(args, f"dreamreel {dreamreel_version()}: {len(jobs)} jobs from {args.jobs}, {where}")
    with jobs_bar(len(jobs), quiet=args.quiet, desc="batch", style=args.progress) as bar:
        finished = lambda outcome: bar.job_done()  # noqa: E731
        if on_ray:
            outcomes = run_on_ray(
                jobs,
                specs,
                restart=args.restart,
                address=args.address,
                finished=finished,
                report=bar.frames,
            )
        else:
            outcomes = run_one_by_one(
                jobs, specs, restart=args.restart, finished=finished, report=bar.frames
            )
    _print_table(summary_rows(outcomes))
    failed = sum(o.error is not None for o in outcomes)
    if failed:
        print(
            f"dreamreel: {failed} of {len(jobs)} jobs failed; run the same command again "
            f"to retry them (finished jobs are kept)",
            file=sys.stderr,
        )
    return 1 if failed else 0


def cmd_stability(args) -> int:
    from .stability import stability_of_videos  # lazy: loads OpenCV, numpy

    report = stability_of_videos(args.output, args.source)
    if args.json not in (None, STDOUT):  # --json PATH: the file, and the line for people
        print(report.summary_line())
        write_json_atomic(Path(args.json), report.to_dict())
    else:  # the JSON alone on stdout (a script reads it), the line for people on stderr
        print(report.summary_line(), file=sys.stderr)
        print_json(args, report.to_dict())
    return 0


def cmd_bench(args) -> int:
    from .bench import run_bench  # lazy: loads numpy

    report = run_bench(quick=args.quick, say=lambda line: _say(args, line))
    if args.json == STDOUT:  # the document alone on stdout, the table for people on stderr
        print("\n".join(report.lines()), file=sys.stderr)
        print_json(args, report.to_dict())
        return 0
    print("\n".join(report.lines()))
    if args.json:
        write_json_atomic(Path(args.json), report.to_dict())
    return 0


def cmd_doctor(args) -> int:

    report = run_doctor(args.out)
    if args.json:  # for scripts: the document alone on stdout, the verdict in the exit code
        print_json(args, {"checks": dict(report.lines), "problems": report.problems})
    else:
        print(report.text())
    sys.stdout.flush()
    check(report)  # something a render needs is missing: one line, exit 2
    return 0


def cmd_stitch(args) -> int:
    from ..rendering.stitch import stitch_from_manifest  # lazy: loads OpenCV, numpy

    with staged(args.out_dir) as folder:  # a URL: fetched, stitched, put back
        written = stitch_from_manifest(folder, getattr(args, "overrides", ()))
        outputs = seen_from(args.out_dir, folder, written)
    print(redacted(f"wrote {', '.join(str(p) for p in outputs)}"))
    return 0


def cmd_models_list(args) -> int:
    from ..models.registry import REGISTRY  # lazy: loads numpy

    rows = [("model", "preprocessing", "default layers", "weights offline")]
    for entry in REGISTRY:
        layers = " + ".join(entry.default_layers)
        rows.append(
            (entry.name, entry.family, layers, "yes" if entry.weights_available() else "no")
        )
    _print_table(rows)
    print("\nAlso: any .keras/.h5 file of yours (dreamreel models layers FILE lists its layers).")
    return 0


def cmd_models_layers(args) -> int:
    from ..models.loading import dreamable_layers  # lazy: loads numpy

    rows = [("layer", "output shape")]
    rows += [(name, str(shape)) for name, shape in dreamable_layers(args.name)]
    _print_table(rows)
    return 0


def cmd_models_fetch(args) -> int:
    from ..models.loading import fetch_weights  # lazy: loads numpy

    path = fetch_weights(args.name, announce=lambda m: _say(args, m))
    print(f"{args.name}: weights ready at {path}")
    return 0


def cmd_models_classes(args) -> int:

    rows = [("index", "class", "full name")]
    rows += [
        (str(i), short_name(full), full)
        for i, full in enumerate(class_names(args.name, announce=lambda m: _say(args, m)))
    ]
    _print_table(rows)
    return 0


def cmd_presets_list(args) -> int:
    from ..rendering.preset_files import preset_names, resolve_preset

    rows = [("preset", "what it does")]
    for name in preset_names():
        first = resolve_preset(name).read_text().splitlines()[0].lstrip("# ")
        rows.append((name, first.split(": ", 1)[-1]))
    _print_table(rows)
    return 0


def cmd_presets_show(args) -> int:
    from ..rendering.preset_files import resolve_preset

    print(resolve_preset(args.name).read_text(), end="")
    return 0


def _print_table(rows: list[tuple[str, ...]]) -> None:
    rows = [tuple(redacted(cell) for cell in row) for row in rows]  # a batch's output URLs
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
