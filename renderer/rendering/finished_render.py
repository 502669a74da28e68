"""A render run again on a folder where it finished: its result from manifest.json, before
any backend loads (TensorFlow's import alone takes seconds) and with nothing written, so
the manifest keeps the recorded run's time.

Finished means all of: manifest.json records this very render (the same resolved spec,
the same identity: inputs, mask, guides and track by content, the seed it drew), the run
that wrote it ended (its frame count and outputs are written last: ``record_outputs``),
every frame is done and every output is there. Anything short of that renders as before
(a resume that only stitches again what is missing).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ..engine.objective_layers import resolved_objective
from ..media.input_identity import input_changes, input_identity
from ..runtime.atomic_files import write_json_atomic
from ..runtime.errors import DreamreelError
from ..store.frame_names import LOSSES_CSV, LOSSES_PNG, MANIFEST_NAME
from ..store.frame_store import done_frame_count, read_manifest
from ..store.loss_log import read_loss_rows
from ..store.manifest import spec_hash
from .modes.builtin import create_mode
from .render_result import RenderResult
from .schedule_binding import bind_render
from .seeds import earlier_manifest, resolve_random_seed
from .spec import RenderSpec

REPORT_NAME = "report.json"
# Made at a render's end besides its outputs, when there is something to say: recorded
# with them, so one deleted since (to have it made again) is noticed.
_ALSO_MADE = (REPORT_NAME, LOSSES_PNG)


class FinishedRender(RenderResult):
    """Nothing rendered (``rendered`` 0): the frames, outputs, time, loss and report the
    run that finished the render recorded."""


def record_outputs(out_dir: Path, outputs: list[Path]) -> None:
    """Add the finished run's outputs (names in ``out_dir``) and the other files its end
    made to its manifest: the last thing a render writes, so a manifest naming them is
    one of a render that ended."""
    manifest = read_manifest(out_dir)
    if manifest is not None:
        manifest["outputs"] = [Path(output).name for output in outputs]
        manifest["also_made"] = [name for name in _ALSO_MADE if (Path(out_dir) / name).is_file()]
        write_json_atomic(Path(out_dir) / MANIFEST_NAME, manifest)


def finished_render(spec: RenderSpec, out_dir: Path) -> FinishedRender | None:
    """The result of ``spec``'s render in ``out_dir`` if it is there finished, else None.
    Reads the input's header (a clip: its packets) as the render would; loads no model."""
    manifest = earlier_manifest(out_dir)
    if not _ended(manifest):
        return None
    assert manifest is not None
    try:
        spec, _ = resolve_random_seed(spec, out_dir, earlier=manifest)
        objective = resolved_objective(spec.objective, spec.model)
        with create_mode(spec) as mode:
            bound = bind_render(spec, mode, objective)
            name, count = mode.name, mode.count
    except DreamreelError:
        return None  # the render itself says what is wrong, in its own words
    same = (
        manifest["spec"] == _as_json(bound.spec.to_dict())
        and manifest.get("spec_hash") == spec_hash(bound.identity)
        and _same_input(spec, manifest)
    )
    outputs = [Path(out_dir) / output for output in manifest["outputs"]]
    if (
        not same
        or manifest["frames"] != count
        or done_frame_count(out_dir, spec.output.frames_format) < count
    ):
        return None
    made = [*outputs, *(Path(out_dir) / name for name in manifest["also_made"])]
    if not all(path.is_file() for path in made):
        return None  # deleted since: the render makes it again
    return FinishedRender(
        Path(out_dir),
        name,
        count,
        0,
        float(manifest.get("seconds_this_run") or 0.0),
        outputs,
        _report(out_dir),
        _final_loss(out_dir, count),
        manifest.get("profile") or {},
    )


def _ended(manifest: dict[str, Any] | None) -> bool:
    """A manifest a finished run left: its frame count and outputs recorded."""
    if manifest is None:
        return False
    frames = manifest.get("frames")
    names = [manifest.get("outputs"), manifest.get("also_made")]
    return (
        isinstance(frames, int)
        and not isinstance(frames, bool)
        and all(isinstance(listed, list) for listed in names)
        and all(isinstance(n, str) and n and Path(n).name == n for n in sum(names, []))
    )


def _as_json(value: Any) -> Any:
    """``value`` as manifest.json holds it (tuples as lists)."""
    return json.loads(json.dumps(value))


def _same_input(spec: RenderSpec, manifest: dict[str, Any]) -> bool:
    """The input at the spec's path is the file the frames were rendered from."""
    if not spec.input:
        return True
    recorded = manifest.get("input_identity")
    if not isinstance(recorded, dict):  # not known by content: the render decides
        return False
    current = input_identity(spec.input, known=recorded)
    return current is not None and not input_changes(recorded, current)


def _report(out_dir: Path) -> dict:
    try:
        report = json.loads((Path(out_dir) / REPORT_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return report if isinstance(report, dict) else {}


def _final_loss(out_dir: Path, count: int) -> float | None:
    """The last measured loss of the frames (a frame that took no step measured none)."""
    rows = read_loss_rows(Path(out_dir) / LOSSES_CSV)
    for frame in range(count, 0, -1):
        try:
            loss = float(rows.get(frame, {}).get("final_loss"))
        except (TypeError, ValueError):
            continue
        if math.isfinite(loss):
            return loss
    return None
