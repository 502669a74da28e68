"""The ``dreamreel`` command line: render, models, presets.

User errors (DreamreelError) end in one line on stderr and exit status 2; TensorFlow is
imported only by the commands that need it, so ``--help`` answers at once.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..runtime.errors import DreamreelError
from ..runtime.interrupts import Interrupted, resume_command, signals_interrupt
from ..store.manifest import dreamreel_version
from ..store.shared_storage import is_url, location
from .shorthand_flags import SIZE_HELP

EXAMPLES = {
    "render": "example: dreamreel render noise-zoom --set frames=120 --set zoom.scale=1.05",
    "stitch": "example: dreamreel stitch renders/noise-zoom",
    "batch": "example: dreamreel batch samples/batch.toml",
    "bench": "example: dreamreel bench --json bench.json",
    "doctor": "example: dreamreel doctor",
    "stability": "example: dreamreel stability renders/video-quick --source clip.mp4",
    "models": "example: dreamreel models layers mobilenet_v2_dogs",
    "presets": "example: dreamreel presets show progress",
    "models list": "example: dreamreel models list",
    "models layers": "example: dreamreel models layers inception_v3",
    "models fetch": "example: dreamreel models fetch mobilenet_v2_dogs",
    "models classes": "example: dreamreel models classes mobilenet_v2_dogs",
    "presets list": "example: dreamreel presets list",
    "presets show": "example: dreamreel presets show progress",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dreamreel",
        description="Batch renderer of DeepDream animations.",
        epilog="example: dreamreel render progress --input photo.jpg --out renders/photo",
    )
    parser.add_argument("--version", action="version", version=f"dreamreel {dreamreel_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    render = _command(commands, "render", "render a preset (a bare name or a .toml path)")
    render.add_argument("preset", metavar="PRESET_OR_TOML")
    render.add_argument("--input", help="input image or clip (default: the preset's, else noise)")
    render.add_argument(
        "-o",
        "--out",
        type=location,
        metavar="DIR",
        help="output folder (default: renders/PRESET), or a URL such as "
        "s3://bucket/renders/x (fsspec; see README, Shared storage)",
    )
    render.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a preset key, e.g. dream.steps=30 (KEY= or KEY=none: back to its default)",
    )
    render.add_argument("--seed", metavar="N", help="the same as --set seed=N (negative: random)")
    render.add_argument(
        "--frames",
        metavar="N",
        help="the same as --set frames=N (zoom and progress renders; with "
        "--audio, the track sets the length and N keeps the first N)",
    )
    render.add_argument(
        "--audio",
        metavar="PATH",
        help='a music track: "audio: ..." schedules follow it, it sets a '
        "zoom's length and the MP4 carries it (the same as --set audio=PATH)",
    )
    render.add_argument("--size", metavar="WxH", help=SIZE_HELP)
    render.add_argument(
        "--dry-run",
        action="store_true",
        help="check everything, print the fully resolved spec as TOML (render "
        "reads it back) and stop: no TensorFlow, nothing written",
    )
    render.add_argument(
        "--restart",
        action="store_true",
        help="discard frames of an earlier render in --out and start over",
    )
    render.add_argument("--quiet", action="store_true", help="no progress bars or messages")
    render.add_argument(
        "--ray",
        action="store_true",
        help="video: render the clip in chunks as Ray tasks, in parallel "
        "(video.warmup, video.crossfade keep the seams smooth)",
    )
    render.add_argument(
        "--chunks",
        type=int,
        metavar="N",
        help="video: render the clip in N chunks (default with --ray: "
        "video.chunks, else one per Ray GPU or core); without --ray, one "
        "after another",
    )
    render.add_argument(
        "--address",
        metavar="ADDR",
        help="with --ray: an existing Ray cluster (default: RAY_ADDRESS, "
        "else a local Ray with this machine's cores)",
    )
    render.set_defaults(run=cmd_render)

    batch = _command(
        commands,
        "batch",
        "render a list of jobs from a TOML file, in parallel on Ray when it is installed",
    )
    batch.add_argument("jobs", type=Path, metavar="JOBS.toml")
    batch.add_argument(
        "-o",
        "--out",
        type=location,
        metavar="DIR",
        help="the folder the jobs render into, one sub-folder each (default: "
        "the file's out, else renders/JOBS)",
    )
    use_ray = batch.add_mutually_exclusive_group()
    use_ray.add_argument(
        "--ray",
        action="store_true",
        default=None,
        help="run the jobs as Ray tasks (the default when Ray is installed)",
    )
    use_ray.add_argument(
        "--no-ray",
        dest="ray",
        action="store_false",
        help="run the jobs one after another in this process",
    )
    batch.add_argument(
        "--address",
        metavar="ADDR",
        help="an existing Ray cluster, e.g. ray://head:10001 (default: "
        "RAY_ADDRESS, else a local Ray on this machine's cores)",
    )
    batch.add_argument(
        "--restart", action="store_true", help="discard the jobs' earlier frames and start over"
    )
    batch.add_argument("--quiet", action="store_true", help="no progress bar or messages")
    batch.set_defaults(run=cmd_batch)

    stability = _command(
        commands, "stability", "temporal stability of a dreamed video against its source (E_warp)"
    )
    stability.add_argument(
        "output",
        type=Path,
        metavar="OUT",
        help="a render folder (its range and rate come from its manifest), "
        "a video in one, or any video",
    )
    stability.add_argument(
        "--source",
        type=Path,
        metavar="IN.mp4",
        help="the clip it was made from (default: a render's own input)",
    )
    stability.add_argument("--json", type=Path, metavar="PATH", help="also write the report here")
    stability.set_defaults(run=cmd_stability)

    stitch = _command(commands, "stitch", "re-stitch a render folder's frames into MP4 and GIF")
    stitch.add_argument(
        "out_dir", type=location, metavar="OUT_DIR", help="a render folder, or its URL (s3://...)"
    )
    stitch.set_defaults(run=cmd_stitch)

    bench = _command(commands, "bench", "measure how fast this machine dreams (1-2 minutes)")
    bench.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    bench.add_argument("--json", type=Path, metavar="PATH", help="also write the results here")
    bench.set_defaults(run=cmd_bench)

    doctor = _command(commands, "doctor", "check this machine: libraries, GPU, models, disk")
    doctor.add_argument(
        "-o",
        "--out",
        type=Path,
        default=Path("renders"),
        metavar="DIR",
        help="where renders will go, for the free disk (default: renders)",
    )
    doctor.set_defaults(run=cmd_doctor)

    models = _command(commands, "models", "list, inspect and fetch the models to dream with")
    model_commands = models.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    _command(
        model_commands,
        "list",
        "models by name, default layers, weights offline or not",
        "models list",
    ).set_defaults(run=cmd_models_list)
    layers = _command(
        model_commands, "layers", "layers of a model you can dream on, with shapes", "models layers"
    )
    layers.add_argument("name", help="a model name or a .keras/.h5 file")
    layers.set_defaults(run=cmd_models_layers)
    fetch = _command(
        model_commands, "fetch", "download a model's weights ahead of time", "models fetch"
    )
    fetch.add_argument("name", nargs="?", default="mobilenet_v2_dogs")
    fetch.set_defaults(run=cmd_models_fetch)
    classes = _command(
        model_commands,
        "classes",
        'the classes a model\'s head tells apart (for objective = "class:NAME")',
        "models classes",
    )
    classes.add_argument("name", help="a model with a class head (mobilenet_v2_dogs)")
    classes.set_defaults(run=cmd_models_classes, light=True)  # names only: no TensorFlow

    presets = _command(commands, "presets", "list the shipped presets or show one")
    preset_commands = presets.add_subparsers(
        dest="presets_command", required=True, metavar="ACTION"
    )
    _command(
        preset_commands, "list", "the presets shipped with dreamreel", "presets list"
    ).set_defaults(run=cmd_presets_list)
    show = _command(preset_commands, "show", "print a preset's TOML", "presets show")
    show.add_argument("name")
    show.set_defaults(run=cmd_presets_show)
    return parser


def _command(group, name: str, summary: str, example_key: str | None = None):
    return group.add_parser(
        name,
        help=summary,
        description=summary[0].upper() + summary[1:] + ".",
        epilog=EXAMPLES[example_key or name],
    )


# Commands that skip TensorFlow's multi-second import here: they never touch it, or load
# it themselves when they need it (render after checking its spec and inputs; doctor, to
# report a failed import).
_LIGHT_COMMANDS = {"presets", "stitch", "stability", "render", "doctor", "batch"}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    try:
        # SIGINT/SIGTERM raise Interrupted: the render cleans up on its way out to here.
        with signals_interrupt():
            if args.command not in _LIGHT_COMMANDS and not getattr(args, "light", False):
                from ..runtime.quiet_tensorflow import use_backend_quietly

                use_backend_quietly()  # KERAS_BACKEND or tensorflow, before Keras loads
            status = args.run(args) or 0
            sys.stdout.flush()  # here, not at exit: a reader gone by then is a BrokenPipeError
            return status
    except DreamreelError as exc:
        print(f"dreamreel: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        print(_interrupted_line(args, argv, exc), file=sys.stderr)
        return exc.exit_code if isinstance(exc, Interrupted) else 130
    except BrokenPipeError:  # `dreamreel models layers X | head` closed our stdout early
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _interrupted_line(args, argv: list[str], exc: KeyboardInterrupt) -> str:
    """ "dreamreel: interrupted by SIGTERM; ..." and, for a render, the command that resumes it."""
    line = "dreamreel: interrupted" + (f" by {exc.name}" if isinstance(exc, Interrupted) else "")
    if args.command in ("render", "batch"):
        line += f"; the finished frames are kept, resume with: {resume_command(argv)}"
    return line


def _say(args, message: str) -> None:
    if not getattr(args, "quiet", False):
        print(message, file=sys.stderr)


def cmd_render(args) -> int:
    # Everything a user can get wrong is checked before TensorFlow loads (seconds).
    from ..rendering.preflight import check_before_loading
    from ..rendering.spec import load_spec
    from .shorthand_flags import shorthand_overrides

    spec = load_spec(args.preset, args.overrides, input=args.input, audio=args.audio)
    shorthands = shorthand_overrides(spec.mode, seed=args.seed, frames=args.frames, size=args.size)
    if shorthands:  # after the --set's, through the same checks
        spec = load_spec(
            args.preset, [*args.overrides, *shorthands], input=args.input, audio=args.audio
        )
    check_before_loading(spec)
    if args.dry_run:
        from ..rendering.spec_toml import spec_to_toml

        print(spec_to_toml(spec), end="")
        return 0
    out_dir = args.out or Path("renders") / spec.name
    from ..store.out_folder import check_writable

    check_writable(out_dir)
    if args.ray or args.chunks is not None:
        return _render_in_chunks(args, spec, out_dir)
    from ..runtime.quiet_tensorflow import use_backend_quietly

    use_backend_quietly(spec.backend)
    from ..rendering.render_preset import render
    from ..runtime.device import render_device
    from .progress_bar import step_bar

    _say(
        args,
        f"dreamreel {dreamreel_version()}: rendering {spec.name} ({spec.mode}) on "
        f"{render_device()} into {out_dir}",
    )
    if not is_url(out_dir):  # a URL's folder is read inside render(), which says it
        from ..rendering.seeds import resolve_random_seed

        spec, seed_note = resolve_random_seed(spec, out_dir, restart=args.restart)
        if seed_note:  # here, not inside render(): said before the progress bar starts
            _say(args, seed_note)
    # The frame count comes with the mode (a clip's own length); the first call says it.
    with step_bar(None, quiet=args.quiet, desc=spec.name, unit="frame") as advance:
        # With a track, --frames N keeps the first N of the track's frames.
        result = render(
            spec,
            out=out_dir,
            restart=args.restart,
            max_frames=spec.frames if args.frames is not None else None,
            announce=lambda m: _say(args, m),
            progress=lambda done, total, loss: advance(done, total, loss=loss),
        )
    resumed = result.frames - result.rendered
    note = f" ({resumed} resumed from an earlier run)" if resumed else ""
    loss = f", final loss {result.final_loss:.4f}" if result.final_loss is not None else ""
    _say(
        args,
        f"wrote {result.frames} frames{note} and "
        f"{', '.join(p.name for p in result.outputs)} to {out_dir} "
        f"in {result.seconds:.1f} s{loss}",
    )
    if "summary" in result.report:
        cuts = result.report["cuts"]
        _say(args, result.report["summary"] + (f"; scene cuts at frames {cuts}" if cuts else ""))
    if result.profile:  # where the time went; the full table is in manifest.json
        _say(args, "time: " + result.profile["summary"])
    if "stopped" in result.report:  # a short render the user allowed: said even if --quiet
        print(
            f"dreamreel: warning: the input {result.report['stopped']}; the video holds "
            f"the {result.frames} frames before it",
            file=sys.stderr,
        )
    return 0


def _render_in_chunks(args, spec, out_dir: Path) -> int:
    from ..distributed.chunk_render import check_chunkable, render_chunked

    check_chunkable(spec)
    if args.chunks is not None and args.chunks < 1:
        raise DreamreelError(f"--chunks must be >= 1, got {args.chunks}")
    if args.ray:
        _require_ray()
    _say(
        args,
        f"dreamreel {dreamreel_version()}: rendering {spec.name} (video, in chunks) into {out_dir}",
    )
    from .progress_bar import jobs_bar

    with jobs_bar(0, quiet=args.quiet, desc=spec.name) as bar:
        result = render_chunked(
            spec,
            out=out_dir,
            chunks=args.chunks,
            ray=args.ray,
            address=args.address,
            restart=args.restart,
            announce=lambda m: args.quiet or bar.say(m),
            bar=bar,
        )
    _say(
        args,
        f"wrote {result.frames} frames from {result.chunks} chunks and "
        f"{', '.join(p.name for p in result.outputs)} to {out_dir}",
    )
    _say(args, result.report["summary"])
    for seam in result.report["seams"]:
        # Added flicker (E_warp of the output less the source's): a jolt in the clip
        # itself near a seam is not the seam's. Where the flicker swings by itself
        # (cadence, music), the typical stretch's worst frame is the fairer yardstick.
        _say(
            args,
            f"seam at frames {seam['frames'][0]}-{seam['frames'][1]}: added flicker "
            f"{seam['added_flicker_ratio']}x the median frame elsewhere, "
            f"{seam['added_flicker_vs_stretches']}x a typical stretch's worst; "
            f"dream strength {seam['dream_strength_ratio']}x",
        )
    return 0


def _require_ray() -> None:
    try:
        import ray  # noqa: F401
    except ImportError:
        raise DreamreelError("--ray needs Ray: pip install 'dreamreel[ray]'") from None


def cmd_batch(args) -> int:
    from ..distributed.batch_jobs import check_jobs, read_jobs
    from ..distributed.batch_run import run_on_ray, run_one_by_one, summary_rows
    from .progress_bar import jobs_bar

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
    with jobs_bar(len(jobs), quiet=args.quiet, desc="batch") as bar:
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
    import json

    from .stability import stability_of_videos

    report = stability_of_videos(args.output, args.source)
    print(report.summary_line())
    if args.json:
        from ..runtime.atomic_files import write_json_atomic

        write_json_atomic(args.json, report.to_dict())
    else:
        print(json.dumps(report.to_dict(), indent=2))
    return 0


def cmd_bench(args) -> int:
    from .bench import run_bench

    report = run_bench(quick=args.quick, say=lambda line: _say(args, line))
    print("\n".join(report.lines()))
    if args.json:
        from ..runtime.atomic_files import write_json_atomic

        write_json_atomic(args.json, report.to_dict())
    return 0


def cmd_doctor(args) -> int:
    from .doctor import check, run_doctor

    report = run_doctor(args.out)
    print(report.text())
    sys.stdout.flush()
    check(report)  # something a render needs is missing: one line, exit 2
    return 0


def cmd_stitch(args) -> int:
    from ..rendering.stitch import stitch_from_manifest
    from ..store.shared_storage import seen_from, staged

    with staged(args.out_dir) as folder:  # a URL: fetched, stitched, put back
        outputs = seen_from(args.out_dir, folder, stitch_from_manifest(folder))
    print(f"wrote {', '.join(str(p) for p in outputs)}")
    return 0


def cmd_models_list(args) -> int:
    from ..models.zoo import REGISTRY

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
    from ..models.zoo import dreamable_layers

    rows = [("layer", "output shape")]
    rows += [(name, str(shape)) for name, shape in dreamable_layers(args.name)]
    _print_table(rows)
    return 0


def cmd_models_fetch(args) -> int:
    from ..models.zoo import fetch_weights

    path = fetch_weights(args.name, announce=lambda m: _say(args, m))
    print(f"{args.name}: weights ready at {path}")
    return 0


def cmd_models_classes(args) -> int:
    from ..models.class_labels import class_names, short_name

    rows = [("index", "class", "full name")]
    rows += [
        (str(i), short_name(full), full)
        for i, full in enumerate(class_names(args.name, announce=lambda m: _say(args, m)))
    ]
    _print_table(rows)
    return 0


def cmd_presets_list(args) -> int:
    from ..rendering.spec import preset_names, resolve_preset

    rows = [("preset", "what it does")]
    for name in preset_names():
        first = resolve_preset(name).read_text().splitlines()[0].lstrip("# ")
        rows.append((name, first.split(": ", 1)[-1]))
    _print_table(rows)
    return 0


def cmd_presets_show(args) -> int:
    from ..rendering.spec import resolve_preset

    print(resolve_preset(args.name).read_text(), end="")
    return 0


def _print_table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())


if __name__ == "__main__":
    sys.exit(main())
