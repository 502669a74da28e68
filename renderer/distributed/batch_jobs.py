"""``dreamreel batch JOBS.toml``: the jobs file, read, expanded and checked up front.

    out = "renders/batch"              # optional: each job renders into OUT/<job name>
    set = ["width=128", "frames=24"]   # optional: --set overrides for every job

    [[job]]
    name = "zoom"                      # optional: default the preset's name
    preset = "noise-zoom"              # a preset name or a .toml file
    seed = [1, 2, 3]                   # a list in preset, input or seed: one job per value
    set = { "dream.steps" = 4 }        # or ["dream.steps=4"], like --set

A job table whose ``preset``, ``input`` or ``seed`` holds a list expands to the cartesian
product, one job per combination, named after what varies (``zoom-seed1``). Paths in the
file (preset files, inputs, ``out``) are relative to the file's folder; paths inside
``set`` values are read like ``--set``'s, from where dreamreel runs. Every job's spec and
inputs are checked before the first job renders, so a typo in the last job costs seconds,
not the renders before it. A mistake is one line naming the file, the job and the key.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..rendering.preflight import check_before_loading, check_inputs_outside
from ..rendering.spec_toml import value_text
from ..runtime.atomic_files import resolved_user_path, user_os_errors
from ..runtime.errors import DreamreelError, closest
from ..store.out_folder import check_no_managed_links, check_writable
from ..store.shared_storage import RemotePath, is_url, joined

_TOP_KEYS = ("out", "set", "cpus", "job")
_JOB_KEYS = ("name", "preset", "input", "seed", "set", "out", "cpus")
_GRID_KEYS = ("preset", "input", "seed")  # the keys that may hold a list of values
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_JOBS = 10_000  # a few lines of lists multiply: bound the jobs before building them


@dataclass(frozen=True)
class Job:
    name: str
    preset: str  # a shipped preset's name or an absolute .toml path
    input: str | None  # absolute, or None: the preset's own (else noise)
    sets: tuple[str, ...]  # "key=value" overrides, applied in order, like --set
    out: Path | RemotePath  # absolute, or a URL (renderer/store/shared_storage.py)
    cpus: int = 1  # CPU cores the job asks Ray for
    # Called with the job's folder after its render, before a URL's copy goes up (a
    # chunk encodes its part of the clip: renderer/distributed/chunk_parts.py). Picklable, for Ray.
    after: Callable[[Path], None] | None = None


def read_jobs(path: Path, out: Path | RemotePath | None = None) -> list[Job]:
    """Parse and expand a jobs file (no spec is loaded: see check_jobs).

    ``out`` (the CLI's --out) replaces the file's own ``out``; without either, jobs go
    into renders/<file name>/<job name> under the current folder, like `dreamreel render`.
    """
    path = Path(path)
    from ..rendering.spec import read_toml  # lazy: loads OpenCV, numpy

    table = read_toml(path, "jobs file")
    where = path.name
    _refuse_unknown(table, _TOP_KEYS, where)
    base = path.absolute().parent
    if out is not None:
        batch_out = joined(Path.cwd(), out)
    elif "out" in table:
        batch_out = joined(base, _text(table["out"], f"{where}: out"))
    else:
        batch_out = Path("renders", path.stem).absolute()
    common_sets = _sets(table.get("set", []), f"{where}: set")
    default_cpus = _cpus(table.get("cpus", 1), f"{where}: cpus")
    tables = table.get("job")
    if not isinstance(tables, list) or not tables:
        raise DreamreelError(f"{where}: no jobs; add at least one [[job]] table with a preset")
    jobs = []
    for number, job_table in enumerate(tables, 1):
        label = f"{where}: job {number}"
        if not isinstance(job_table, dict):
            raise DreamreelError(f"{label}: a job is a [[job]] table")
        if "name" in job_table:
            label = f"{where}: job {_text(job_table['name'], f'{label}: name')!r}"
        _refuse_too_many(len(jobs) + _grid_size(job_table, label), label)
        jobs += _expand(job_table, label, base, batch_out, common_sets, default_cpus)
    _refuse_shared_folders(jobs, where)
    return _unique_names(jobs)


def check_jobs(jobs: list[Job], where: str) -> list:
    """Every job's RenderSpec, after the checks `dreamreel render` makes before TensorFlow
    loads (spec, inputs, model and layers, output folder). The first problem stops the
    batch before anything renders, as one line naming the job."""
    from ..rendering.spec import load_spec  # lazy: loads OpenCV, numpy

    specs = []
    for job in jobs:
        try:
            spec = load_spec(job.preset, job.sets, input=job.input)
            check_before_loading(spec)
            check_writable(job.out)
            if not is_url(job.out):  # a link or an input among its managed files: now
                check_no_managed_links(Path(job.out))
                check_inputs_outside(spec, Path(job.out))
        except DreamreelError as exc:  # a name from a long path's stem: the line names it
            raise DreamreelError(f"{where}: job {_short(job.name)!r}: {exc}") from None
        specs.append(spec)
    return specs


def _short(name: str, limit: int = 60) -> str:
    """A job's name for a message; one taken from a long file name is shortened, so the
    line gives that file's name once (in the reason that follows), not twice."""
    return name if len(name) <= limit else f"{name[: limit - 20]}...{name[-12:]}"


def _expand(
    table: dict, label: str, base: Path, batch_out: Path, common_sets: list[str], default_cpus: int
) -> list[Job]:
    _refuse_unknown(table, _JOB_KEYS, label)
    if "preset" not in table:
        raise DreamreelError(f"{label}: preset is missing (a preset name or a .toml file)")
    choices = {key: _values(table[key], f"{label}: {key}") for key in _GRID_KEYS if key in table}
    presets = [_preset(_text(p, f"{label}: preset"), base, label) for p in choices["preset"]]
    inputs = [str(base / _text(i, f"{label}: input")) for i in choices.get("input", [])]
    seeds = [_seed(s, f"{label}: seed") for s in choices.get("seed", [])]
    sets = common_sets + _sets(table.get("set", []), f"{label}: set")
    cpus = _cpus(table.get("cpus", default_cpus), f"{label}: cpus")
    grid = [k for k in _GRID_KEYS if len(choices.get(k, [])) > 1]  # what varies: in names
    name = _text(table["name"], f"{label}: name") if "name" in table else None
    folder = joined(base, _text(table["out"], f"{label}: out")) if "out" in table else None
    jobs = []
    for preset, input, seed in itertools.product(presets, inputs or [None], seeds or [None]):
        parts = [name or Path(preset).stem] if name or "preset" not in grid else []
        parts += [Path(preset).stem] if "preset" in grid else []
        parts += [Path(input).stem] if "input" in grid else []
        parts += [f"seed{seed}"] if "seed" in grid else []
        job_name = _folder_name(_UNSAFE.sub("_", "-".join(parts)), label)
        # A grid's out is the folder its jobs go into; a single job's is its own folder.
        out = (folder / job_name if grid else folder) if folder else batch_out / job_name
        jobs.append(
            Job(
                job_name,
                preset,
                input,
                tuple(sets + ([f"seed={seed}"] if seed is not None else [])),
                out,
                cpus,
            )
        )
    return jobs


def _grid_size(table: dict, label: str) -> int:
    """How many jobs a [[job]] table expands to: the product of its lists' lengths."""
    sizes = [len(_values(table[key], f"{label}: {key}")) for key in _GRID_KEYS if key in table]
    return math.prod(sizes)


def _refuse_too_many(count: int, label: str) -> None:
    if count > MAX_JOBS:
        raise DreamreelError(
            f"{label}: its lists bring the file to {count:,} jobs, over the {MAX_JOBS:,} a "
            f"jobs file may hold; shorten the lists or split the file"
        )


def _folder_name(name: str, label: str) -> str:
    """A job's name is its folder's: '.' and '..' would be OUT itself or its parent."""
    if name in (".", ".."):
        raise DreamreelError(
            f"{label}: the job name {name!r} is no folder name (it would render into OUT "
            f"or above it); give the job a name of letters, digits, '.', '_' or '-'"
        )
    return name


def _refuse_unknown(table: dict, keys: tuple[str, ...], label: str) -> None:
    for key in table:
        if key not in keys:
            close = closest(key, keys)
            hint = f"did you mean {close[0]}? " if close else ""
            raise DreamreelError(
                f"{label}: unknown key {key!r}; {hint}valid keys: {', '.join(k for k in keys)}"
            )


def _values(value: Any, label: str) -> list:
    values = value if isinstance(value, list) else [value]
    if not values:
        raise DreamreelError(f"{label}: an empty list gives no jobs")
    return values


def _text(value: Any, label: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DreamreelError(f"{label} must be a non-empty string, got {value!r}")
    return value


def _preset(text: str, base: Path, label: str) -> str:
    """A path (``x.toml``, ``sub/x``, or a file beside the jobs file that is no shipped
    preset's name: a folder ``morph`` shadows nothing) is relative to the jobs file; else
    a shipped preset's name."""
    from ..rendering.preset_files import looks_like_preset_path, preset_names

    beside = base / text
    if looks_like_preset_path(text):
        return str(beside)
    try:
        with user_os_errors(beside, "read preset"):  # a name too long: one line
            found = beside.is_file()
    except DreamreelError as exc:
        raise DreamreelError(f"{label}: {exc}") from None
    return str(beside) if found and text not in preset_names() else text


def _seed(value: Any, label: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise DreamreelError(f"{label} must be an integer or a list of them, got {value!r}")
    return value


def _cpus(value: Any, label: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise DreamreelError(f"{label} must be an integer >= 1, got {value!r}")
    return value


def _sets(value: Any, label: str) -> list[str]:
    """``["dream.steps=4"]`` as it is, or ``{dream.steps = 4}`` as "dream.steps=4"."""
    if isinstance(value, dict):
        return [_set_text(key, item, label) for key, item in _flatten(value)]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise DreamreelError(
            f'{label} must be a list of "key=value" strings (like --set) or a table, got {value!r}'
        )
    return list(value)


def _set_text(key: str, value: Any, label: str) -> str:
    """``key=value`` as --set reads it; a TOML date or time has no such text."""
    try:
        return f"{key}={value_text(value, label)}"
    except TypeError:
        odd = _first_unsettable(value)
        odd = value if odd is None else odd
        raise DreamreelError(
            f"{label}: {key} holds {odd} (a {type(odd).__name__}), which --set cannot take; "
            f"write a number, a string, a boolean or a list of them"
        ) from None


def _first_unsettable(value: Any) -> Any:
    """The date, time or table in ``value`` (a list's items searched), else None."""
    if isinstance(value, list):
        found = (_first_unsettable(item) for item in value)
        return next((item for item in found if item is not None), None)
    return None if isinstance(value, (bool, int, float, str)) else value


def _flatten(table: dict, prefix: str = "") -> list[tuple[str, Any]]:
    items = []
    for key, value in table.items():
        if isinstance(value, dict):
            items += _flatten(value, f"{prefix}{key}.")
        else:
            items.append((prefix + key, value))
    return items


def _refuse_shared_folders(jobs: list[Job], where: str) -> None:
    seen: dict[Path | str, str] = {}
    for job in jobs:
        try:  # a loop of links or a NUL in the file's out: one line, not a RuntimeError
            url = is_url(job.out)
            local = None if url else resolved_user_path(job.out, "output folder", verb="use")
        except DreamreelError as exc:
            raise DreamreelError(f"{where}: job {_short(job.name)!r}: {exc}") from None
        folder = job.out if local is None else Path(local)
        if folder in seen:
            raise DreamreelError(
                f"{where}: jobs {seen[folder]!r} and {job.name!r} both render "
                f"into {job.out}; give them different names or out folders"
            )
        seen[folder] = job.name


def _unique_names(jobs: list[Job]) -> list[Job]:
    """Names are labels in the summary: two alike get -2, -3 (their folders differ)."""
    from dataclasses import replace

    counts: dict[str, int] = {}
    named = []
    for job in jobs:
        counts[job.name] = counts.get(job.name, 0) + 1
        named.append(
            job if counts[job.name] == 1 else replace(job, name=f"{job.name}-{counts[job.name]}")
        )
    return named
