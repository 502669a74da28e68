"""The ``dreamreel`` command line: render, models, presets.

User errors (DreamreelError) end in one line on stderr and their class's exit status
(EXIT_STATUS below: usage 2, refused 3, damaged input 4); TensorFlow is imported only by
the commands that need it, so ``--help`` answers at once.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from pathlib import Path
from typing import NoReturn

from ..runtime.errors import DreamreelError, InputDamaged, Refused
from ..runtime.interrupts import Interrupted, resume_command, signals_interrupt
from ..runtime.quiet_tensorflow import use_backend_quietly
from ..runtime.redaction import HIDDEN, redacted, remember_credentials
from ..store.manifest import dreamreel_version
from ..store.shared_storage import location
from .commands import (
    STDOUT,
    cmd_batch,
    cmd_bench,
    cmd_doctor,
    cmd_models_classes,
    cmd_models_fetch,
    cmd_models_layers,
    cmd_models_list,
    cmd_presets_list,
    cmd_presets_show,
    cmd_render,
    cmd_stability,
    cmd_stitch,
)
from .import_deforum import cmd_import_deforum
from .info import cmd_info
from .messages import Messages
from .preview import add_preview_arguments, cmd_preview
from .progress_bar import STYLES
from .shorthand_flags import add_spec_arguments

EXAMPLES = {
    "render": "example: dreamreel render noise-zoom --set frames=120 --set zoom.scale=1.05",
    "preview": "example: dreamreel preview noise-zoom --set zoom.rotation=0.5 --look 6",
    "stitch": "example: dreamreel stitch renders/noise-zoom-noise-1a2b3c4d",
    "info": "example: dreamreel info renders/noise-zoom-noise-1a2b3c4d/frames/000012.png",
    "batch": "example: dreamreel batch samples/batch.toml",
    "bench": "example: dreamreel bench --json bench.json",
    "doctor": "example: dreamreel doctor",
    "import-deforum": "example: dreamreel import-deforum 20230101_settings.txt > mine.toml",
    "ui": "example: dreamreel ui --out-root renders  (then open http://127.0.0.1:7860/)",
    "stability": "example: dreamreel stability renders/video-quick-clip-1a2b3c4d --source clip.mp4",
    "models": "example: dreamreel models layers mobilenet_v2_dogs",
    "presets": "example: dreamreel presets show progress",
    "models list": "example: dreamreel models list",
    "models layers": "example: dreamreel models layers inception_v3",
    "models fetch": "example: dreamreel models fetch mobilenet_v2_dogs",
    "models classes": "example: dreamreel models classes mobilenet_v2_dogs",
    "presets list": "example: dreamreel presets list",
    "presets show": "example: dreamreel presets show progress",
}


_USAGE, _REFUSED, _DAMAGED = DreamreelError.exit_code, Refused.exit_code, InputDamaged.exit_code
EXIT_STATUS = f"""\
exit status:
  0    done
  1    a bug (its traceback is printed), or some of a batch's jobs failed
  {_USAGE}    usage: a bad flag, preset, setting or value, or a file that is not there
  {_REFUSED}    refused: OUT holds another render or another run, a link or an input
       among its files, or cannot be written (nothing there was changed)
  {_DAMAGED}    an input is damaged or cannot be decoded (a truncated clip, not an image)
  130  interrupted by Ctrl-C (SIGINT), 143 by SIGTERM: the finished frames are kept

With --json, stdout holds one JSON document and nothing else: the command's, or, when
it fails, {{"error": "...", "exit_code": N}} (the error's line is on stderr too)."""


class _Parser(argparse.ArgumentParser):
    """argparse, whose refusals quote what was typed: a URL's password hidden there too
    (its sub-commands' parsers are of this class as well)."""

    def error(self, message: str) -> NoReturn:
        super().error(redacted(message))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="dreamreel",
        description="Batch renderer of DeepDream animations.",
        epilog="example: dreamreel render progress --input photo.jpg --out renders/photo\n\n"
        + EXIT_STATUS,
        formatter_class=argparse.RawDescriptionHelpFormatter,  # the table's lines as written
    )
    parser.add_argument("--version", action="version", version=f"dreamreel {dreamreel_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    render = _command(commands, "render", "render a preset (a bare name or a .toml path)")
    add_spec_arguments(render)
    render.add_argument(
        "-o",
        "--out",
        type=location,
        metavar="DIR",
        help="output folder (default: renders/PRESET-INPUT-HASH, one per recipe), or a URL such as "
        "s3://bucket/renders/x (fsspec; see docs/storage.md)",
    )
    dry_run_or_json = render.add_mutually_exclusive_group()
    dry_run_or_json.add_argument(
        "--dry-run",
        action="store_true",
        help="check everything, print the fully resolved spec as TOML (render "
        "reads it back) and stop: no TensorFlow, nothing written",
    )
    dry_run_or_json.add_argument(
        "--json",
        action="store_true",
        help="print one JSON document on stdout at the end (out folder, frames, outputs, "
        "time, final loss...) and nothing else there",
    )
    render.add_argument(
        "--restart",
        action="store_true",
        help="discard frames of an earlier render in --out and start over",
    )
    _quiet_and_progress(render)
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
    _quiet_and_progress(batch)
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
    stability.add_argument(
        "--json",
        nargs="?",
        const=STDOUT,
        metavar="PATH",
        help="write the report to PATH (the summary line on stdout); without PATH, or "
        "without --json: the JSON alone on stdout, the line on stderr",
    )
    stability.set_defaults(run=cmd_stability)

    preview = _command(
        commands,
        "preview",
        "what a render will do, in seconds and without the model: its camera path as a "
        "GIF, a plot of its schedules (and a few frames dreamed small, with --look)",
    )
    add_preview_arguments(preview)
    preview.set_defaults(run=cmd_preview)

    stitch = _command(
        commands, "stitch", "re-stitch a render folder's frames into its video and GIF"
    )
    stitch.add_argument(
        "out_dir", type=location, metavar="OUT_DIR", help="a render folder, or its URL (s3://...)"
    )
    stitch.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="output.KEY=VALUE",
        help="re-encode with another output setting, without dreaming, e.g. "
        "output.codec=prores (output.* keys only); the manifest records it",
    )
    stitch.set_defaults(run=cmd_stitch)

    info = _command(
        commands, "info", "print the recipe a render's frame, GIF, MP4 or folder carries"
    )
    info.add_argument(
        "file",
        metavar="FILE",
        help="a frame PNG, the GIF or MP4 of a render, its manifest.json or its folder",
    )
    info.set_defaults(run=cmd_info)

    deforum = _command(commands, "import-deforum", "print a Deforum settings file as a zoom preset")
    deforum.add_argument("settings", metavar="SETTINGS", help="Deforum's *_settings.txt or .json")
    deforum.set_defaults(run=cmd_import_deforum)

    bench = _command(commands, "bench", "measure how fast this machine dreams (1-2 minutes)")
    bench.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    bench.add_argument(
        "--json",
        nargs="?",
        const=STDOUT,
        metavar="PATH",
        help="also write the results to PATH; without PATH: print them as one JSON "
        "document on stdout and nothing else there (the table on stderr)",
    )
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
    doctor.add_argument(
        "--json",
        action="store_true",
        help="print one JSON document on stdout (each check, and the problems) and nothing else",
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

    studio = _command(
        commands,
        "ui",
        "the local studio: a page in the browser to preview, render, stop, resume and "
        "browse renders (one render at a time, the model kept loaded for previews)",
    )
    studio.add_argument(
        "--host",
        default="127.0.0.1",
        metavar="ADDR",
        help="the address to listen on (default: 127.0.0.1, this machine only); another "
        "makes the studio reachable by anyone on that network, with a warning",
    )
    studio.add_argument(
        "--port", type=int, default=7860, metavar="N", help="the port (default: 7860; 0: any free)"
    )
    studio.add_argument(
        "--out-root",
        type=Path,
        default=Path("renders"),
        metavar="DIR",
        help="where renders go, one folder each as render names them, and the gallery "
        "reads them (default: renders)",
    )
    studio.set_defaults(run=_cmd_ui)

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


def _cmd_ui(args) -> int:
    from ..ui.app import run_studio  # lazy: the studio's server and the render wing

    messages = Messages(quiet=False)
    return run_studio(args.host, args.port, args.out_root, messages.info, messages.warn)


def _quiet_and_progress(command) -> None:
    command.add_argument(
        "--quiet",
        action="store_true",
        help="no progress and no info lines; warnings and errors still show",
    )
    command.add_argument(
        "--progress",
        choices=STYLES,
        help="bar (the default in a terminal), lines: a plain line at each tenth of the "
        "work or every 10 s (the default when stderr is a file or a pipe), or none",
    )


def _command(group, name: str, summary: str, example_key: str | None = None):
    return group.add_parser(
        name,
        help=summary,
        description=summary[0].upper() + summary[1:] + ".",
        epilog=EXAMPLES[example_key or name],
    )


# Commands that skip TensorFlow's multi-second import here: they never touch it, or load
# it themselves when they need it (render after checking its spec and inputs; doctor, to
# report a failed import; preview's --look after every check).
_LIGHT_COMMANDS = {
    "presets",
    "stitch",
    "stability",
    "render",
    "doctor",
    "batch",
    "info",
    "preview",
    "import-deforum",
    "ui",  # the studio loads the model at the first preview
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    for arg in argv:  # a library may quote a URL's password without the URL
        remember_credentials(arg)
    try:
        args = build_parser().parse_args(argv)
    except DreamreelError as exc:  # an argument's own check (--out at a URL: its path)
        print(f"dreamreel: error: {redacted(str(exc))}", file=sys.stderr)
        return exc.exit_code
    try:
        # SIGINT/SIGTERM raise Interrupted: the render cleans up on its way out to here.
        with signals_interrupt():
            if args.command not in _LIGHT_COMMANDS and not getattr(args, "light", False):
                use_backend_quietly()  # KERAS_BACKEND or tensorflow, before Keras loads
            status = args.run(args) or 0
            sys.stdout.flush()  # here, not at exit: a reader gone by then is a BrokenPipeError
            return status
    except DreamreelError as exc:  # whatever raised it, a URL's password stays hidden
        message = redacted(str(exc))
        print(f"dreamreel: error: {message}", file=sys.stderr)
        return _failed(args, message, exc.exit_code)
    except KeyboardInterrupt as exc:
        line = _interrupted_line(args, argv, exc)
        print(line, file=sys.stderr)
        code = exc.exit_code if isinstance(exc, Interrupted) else 130
        return _failed(args, line.removeprefix("dreamreel: "), code)
    except BrokenPipeError:  # `dreamreel models layers X | head` closed our stdout early
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # a bug: its traceback as Python prints it, less a URL's password
        print(redacted(traceback.format_exc()), end="", file=sys.stderr)
        return _failed(args, redacted(f"{type(exc).__name__}: {exc}"), 1)


def _failed(args, message: str, code: int) -> int:
    """``code``; with --json (the document on stdout) and no document printed yet, an
    error object there instead, so a script reading stdout always reads JSON."""
    if getattr(args, "json", None) in (True, STDOUT) and not getattr(args, "printed_json", False):
        try:
            print(json.dumps({"error": message, "exit_code": code}, indent=2), flush=True)
        except (BrokenPipeError, ValueError):  # a reader gone, or stdout closed
            pass
    return code


def _interrupted_line(args, argv: list[str], exc: KeyboardInterrupt) -> str:
    """ "dreamreel: interrupted by SIGTERM; ..." and, for a render, the command that resumes it."""
    line = "dreamreel: interrupted" + (f" by {exc.name}" if isinstance(exc, Interrupted) else "")
    if args.command in ("render", "batch"):
        shown = [redacted(arg) for arg in argv]
        line += f"; the finished frames are kept, resume with: {resume_command(shown)}"
        if shown != argv:
            line += f" (put the credentials back where {HIDDEN} stands)"
    return line


if __name__ == "__main__":
    sys.exit(main())
