"""Animation modes: what each frame's dream starts from, and what a finished frame is.

Every mode is one module that registers a class under its name with ``@register``;
spec validation, the command line and the frame loop look modes up here and nowhere
else. Adding a mode is one module, a preset and tests.

A mode is driven by the frame loop (renderer/rendering/frame_loop.py), one frame at a time:

    with create_mode(spec) as mode:           # opens its input; knows fps and frame count
        first = mode.resume(done, store)      # continue after `done` stored frames
        for index in range(first, mode.count):
            ready = mode.prepare(index)       # AHEAD: what the input alone gives (decode, flow)
            start = mode.start(index, seed, ready)  # FrameStart: start image, settings, log
            result = dream(...)               # the engine, which knows nothing of modes
            out = mode.finish(index, result)  # FrameOut: the picture to store
            log = mode.measure(index, ready, out)   # BEHIND: columns nothing later needs
            store.write_frame(...)
        summary = mode.close(store)           # report, extra files
                                              # (leaving `with` releases the input)

With ``pipeline = true`` (the default) ``prepare`` runs on a worker thread a few frames
ahead and ``measure`` on another after the dream (renderer/rendering/pipelining.py): each is called
in frame order from one thread, so ``prepare`` may keep its own state (a decoder, the last
raw frame) and so may ``measure``, but neither may touch what start/finish change.

Modes are pure numpy/OpenCV: they never call the engine or write frames themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np

from ...runtime.backend_choice import DEFAULT_BACKEND, requested
from ...runtime.errors import DreamreelError, closest
from ..stage_clock import NULL_CLOCK

if TYPE_CHECKING:
    from ...engine.dream import DreamResult, DreamState, TemporalTarget
    from ...media.audio import AudioSource
    from ...store.frame_store import FrameStore
    from ..spec import RenderSpec
    from ..stage_clock import NullClock, StageClock


@dataclass(frozen=True)
class FrameStart:
    """Where one frame's dream starts."""

    image: np.ndarray  # RGB float32 0..255
    settings: dict[str, Any] = field(default_factory=dict)  # dream-setting changes (steps...)
    log: dict[str, Any] = field(default_factory=dict)  # extra losses.csv columns
    state: DreamState | None = None  # continue this dream instead of starting afresh
    max_steps: int | None = None  # with state: dream at most this many steps
    # What the frame is without dreaming, where a mask keeps it (renderer/rendering/masks.py): a
    # video's raw frame; None: the start image.
    source: np.ndarray | None = None
    # What the objective's temporal term holds the dream to (a video's earlier frames
    # warped onto this one); None: nothing, the term is 0.
    temporal: TemporalTarget | None = None
    # Each pixel's step size, times the dream's (H, W); None: 1 everywhere. A video dreams
    # harder where the carry brought no dream (renderer/rendering/modes/video.py).
    step_map: np.ndarray | None = None


@dataclass(frozen=True)
class FrameOut:
    """A finished frame as the store keeps it."""

    image: np.ndarray  # RGB uint8, the stored picture
    checkpoint: dict[str, np.ndarray] | None = None  # what resuming needs beyond the PNG
    log: dict[str, Any] = field(default_factory=dict)  # columns known only after the dream
    # The picture's float values (RGB float32 0..255) before their rounding to `image`,
    # for the 16-bit frames (output.frames_format); None: `image` is all there is.
    exact: np.ndarray | None = None


@dataclass(frozen=True)
class ModeSummary:
    """What a mode adds when the frames are done."""

    report: dict[str, Any] = field(default_factory=dict)  # written to report.json if any
    files: list[Path] = field(default_factory=list)  # extra outputs (contact sheet...)


class Mode(Protocol):
    name: ClassVar[str]
    columns: ClassVar[tuple[str, ...]]  # extra losses.csv columns, in order
    fps: float  # of the frames (a clip's own rate for video)
    count: int  # frames the render has when done
    # The frame loop's StageClock, set before resume: the mode times its own stages in it
    # (``with self.clock.stage("flow"): ...``); the frame loop times the rest as "mode".
    clock: StageClock | NullClock

    @classmethod
    def check(cls, spec: RenderSpec) -> None:
        """Raise DreamreelError for a spec this mode cannot render."""

    @classmethod
    def identity(cls, spec: RenderSpec) -> dict[str, Any]:
        """The spec values that decide this mode's pixels (resume needs them unchanged)."""

    def resume(self, done: int, store: FrameStore) -> int:
        """Prepare to continue after ``done`` stored frames; return the frame to start at
        (``done``, or fewer when the stored frames are not enough to pick up from)."""

    def prepare(self, index: int) -> Any:
        """What frame ``index`` needs from the input alone, independent of every dream
        (a decoded frame, its optical flow); handed to ``start`` and ``measure``."""

    def start(self, index: int, seed: int, ready: Any) -> FrameStart: ...

    def finish(self, index: int, result: DreamResult) -> FrameOut: ...

    def measure(self, index: int, ready: Any, out: FrameOut) -> dict[str, Any]:
        """Extra losses.csv columns from a finished frame that no later frame depends on
        (the stability terms)."""

    def audio(self) -> AudioSource | None:
        """The sound to carry into the MP4, if any."""

    def manifest(self) -> dict[str, Any]:
        """Facts for manifest.json (a clip's fps and audio, octave sizes...)."""

    def notes(self) -> list[str]:
        """Lines for the user once per render, before the first frame (octaves dropped
        for a small image)."""

    def close(self, store: FrameStore) -> ModeSummary: ...

    def release(self) -> None:
        """Let go of open inputs (a clip); the frame loop calls it however the render ends."""


class ModeBase:
    """Defaults most modes share: no extra columns, no audio, nothing to add at the end."""

    name: ClassVar[str] = ""
    columns: ClassVar[tuple[str, ...]] = ()
    # The mode's own settings tables (name -> frozen dataclass with check(prefix)): the
    # spec reads them from here, so presets and --set reach them as [zoom], zoom.scale.
    settings: ClassVar[dict[str, type]] = {}
    # Those of its tables that no other mode's frames depend on: other modes leave them
    # out of their identity (changing progress.every never invalidates a zoom render).
    # zoom, video and flow stay in every identity, as they were before modes had tables.
    private_tables: ClassVar[tuple[str, ...]] = ()
    clock = NULL_CLOCK  # measures nothing until the frame loop sets its own

    @classmethod
    def check(cls, spec: RenderSpec) -> None:
        return None

    @classmethod
    def identity(cls, spec: RenderSpec) -> dict[str, Any]:
        data = spec.to_dict()
        # frames stay valid; max_input_pixels only admits inputs
        for key in ("frames", "fps", "output", "name", "pipeline", "max_input_pixels"):
            data.pop(key)
        # How a chunked render splits the clip (renderer/distributed/chunk_plan.py), not its pixels;
        # every mode's identity carries the video table, and older renders must resume.
        for key in ("warmup", "crossfade", "chunks"):
            data.get("video", {}).pop(key, None)
        # Backends agree to float rounding, not bit for bit: a render never resumes on
        # another. TensorFlow (key unset or named) stays out, so its hashes are as before.

        if not data.get("frame_offset"):  # renders of their own: hashes as before
            data.pop("frame_offset", None)
        backend = requested(data.pop("backend", None))
        if backend != DEFAULT_BACKEND:
            data["backend"] = backend
        for other in MODES.classes():
            if other is not cls:
                for table in other.private_tables:
                    data.pop(table, None)
        return data

    def resume(self, done: int, store: FrameStore) -> int:
        return done

    def prepare(self, index: int) -> Any:
        return None

    def measure(self, index: int, ready: Any, out: FrameOut) -> dict[str, Any]:
        return {}

    def audio(self) -> AudioSource | None:
        return None

    def manifest(self) -> dict[str, Any]:
        return {}

    def notes(self) -> list[str]:
        return []

    def close(self, store: FrameStore) -> ModeSummary:
        return ModeSummary()

    def release(self) -> None:
        return None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def check_cadence(prefix: str, cadence: int, between_steps: int, between: str) -> None:
    """Zoom's and video's cadence settings; ``between`` says what a frame between
    keyframes is when it takes no step."""
    if cadence < 1 or between_steps < 0:
        raise DreamreelError(
            f"{prefix}cadence must be >= 1 (1 dreams every frame) and "
            f"{prefix}between_steps >= 0 (0: frames between keyframes are {between})"
        )


class ModeRegistry:
    """Mode name -> class; ``@register`` adds one."""

    def __init__(self) -> None:
        self._modes: dict[str, type] = {}

    def register(self, cls: type) -> type:
        if not cls.name or cls.name in self._modes:
            raise ValueError(f"mode {cls.name!r} has no name or is registered twice")
        self._modes[cls.name] = cls
        return cls

    def get(self, name: str) -> type:
        if name in self._modes:
            return self._modes[name]
        close = closest(str(name), self.names())
        hint = f"; did you mean {close[0]}?" if close else ""
        raise DreamreelError(f"mode must be one of {', '.join(self.names())}, got {name!r}{hint}")

    def names(self) -> list[str]:
        return sorted(self._modes)

    def classes(self) -> list[type]:
        return [self._modes[name] for name in self.names()]

    def tables(self) -> dict[str, type]:
        """Every mode's settings tables by name (a name is owned by one mode)."""
        tables: dict[str, type] = {}
        for cls in self.classes():
            for name, table in cls.settings.items():
                if tables.setdefault(name, table) is not table:
                    raise ValueError(f"settings table {name!r} is defined by two modes")
        return tables


MODES = ModeRegistry()
register = MODES.register
