"""The octave dream: model + layers -> dreamed image and its loss history.

Knows nothing about files or frames. Images come in and go out as RGB float32 in
0..255; the gradient steps run in the model's own input space (``ascent.py``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from ..runtime.errors import DreamreelError
from .numeric_faults import NumericalFault, checked_loss
from .step_cache import compiled_ascent
from .steps.base import AscentSettings, AscentStep

# Below this side a net's stride-32 stages run out of pixels (InceptionV3 needs 75).
MIN_OCTAVE_SIDE = 80

# The automatic tile size (dream.tile_size unset / "auto"). A dream's memory is a fixed
# part (TF + model, ~0.65-0.75 GiB), a part per frame pixel (the image, its roll, the
# gradient and the octave arrays: ~140 bytes per pixel, ~1.1 GiB at 3840x2160) and the
# activations and their gradients of ONE window (tile + 2 margins) at a time: ~640 bytes
# per window pixel for mobilenet_v2_dogs' default layers on the CPU (measured with
# benchmarks/resolution_memory.py, see benchmarks/history/frame-loop-cadence-memory.md). The rule:
#   window budget = total physical memory / 28        (24 GiB -> 878 MiB)
#   window side   = sqrt(budget / 640 B)
#   tile          = window side - 2 * tile_margin, rounded down to a multiple of 64,
#                   clamped to [AUTO_TILE_MIN, AUTO_TILE_MAX]
# 8 GiB -> 512 (the old fixed default), 16 GiB -> 832, 24 GiB -> 1024, 64 GiB -> 1792.
# 28, not 32: at 32 a 24 GiB machine got 960 px tiles, which cut a 2048 px image into
# 3 x 3 windows and dreamed it at 69% of the small-image megapixel rate; 1024 px tiles
# make it 2 x 2 (~90%), peaking at 2.25 GiB. A 3840x2160 frame stays well under 4 GiB.
# TOTAL memory, never the free memory: the tiles change the pixels (slightly), so a
# resumed render must pick the same tiles as the run it continues, whatever else runs.
AUTO_TILE_MEMORY_FRACTION = 28  # the window's activations may use 1/28 of total memory
AUTO_TILE_BYTES_PER_PIXEL = 640  # activation + gradient bytes per window pixel (measured)
AUTO_TILE_MIN, AUTO_TILE_MAX = 256, 2048


def total_memory_bytes() -> int:
    """The machine's total physical memory (fixed for a machine, unlike free memory)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows): assume 8 GiB
        return 8 * 2**30


def auto_tile_size(tile_margin: int = 64, total_memory: int | None = None) -> int:
    """The tile side for ``dream.tile_size = "auto"``: see the rule above."""
    memory = total_memory_bytes() if total_memory is None else int(total_memory)
    budget = memory / AUTO_TILE_MEMORY_FRACTION
    window = math.isqrt(int(budget // AUTO_TILE_BYTES_PER_PIXEL))
    tile = (window - 2 * max(0, int(tile_margin))) // 64 * 64
    return max(AUTO_TILE_MIN, min(AUTO_TILE_MAX, tile))


@dataclass(frozen=True)
class DreamSettings:
    """How hard and how finely to dream (one commented settings block, keras-io style)."""

    steps: int = 20  # gradient-ascent steps per octave
    step_size: float = 0.02  # per step, relative to half the model's input range
    octaves: int = 3  # number of scales, the last one the full size
    octave_scale: float = 1.4  # size ratio between neighbouring octaves
    tile_size: int | str | None = None  # gradients per tile of at most this side: bounded
    # memory; None or "auto": auto_tile_size() from the
    # machine's total memory (resolved_tile_size())
    tile_margin: int = 64  # context around each tile, so tile borders leave no seams
    jitter: int = 32  # max random roll per step, in pixels
    normalize_gradients: bool = True  # divide the gradient by its std (TF tutorial)
    smoothing: float = 0.0  # Gaussian sigma (px) on the gradient; 0 is off
    keep_source_detail: bool = True  # re-add the source's fine detail at each octave (off
    # for noise: its pixel grain would come back each time)
    seed: int = 0  # random rolls; the same seed gives the same dream

    def validate(self) -> DreamSettings:
        checks = [
            (self.steps >= 0, "dream.steps must be >= 0"),
            (self.step_size != 0, "dream.step_size must not be 0"),
            (
                math.isfinite(self.step_size),
                f"dream.step_size must be a finite number, got {self.step_size}",
            ),
            (self.octaves >= 1, "dream.octaves must be >= 1"),
            (self.octave_scale > 1.0, "dream.octave_scale must be > 1"),
            (
                _tile_size_ok(self.tile_size),
                f'dream.tile_size must be an integer >= 64 or "auto", got {self.tile_size!r}',
            ),
            (self.tile_margin >= 0, "dream.tile_margin must be >= 0"),
            (self.jitter >= 0, "dream.jitter must be >= 0"),
            (self.smoothing >= 0, "dream.smoothing must be >= 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise DreamreelError(message)
        return self

    def resolved_tile_size(self) -> int:
        """The tile side the dream uses: ``tile_size`` when set, else the machine's
        ``auto_tile_size`` (the same on every run of one machine: record it with a render
        to reproduce its pixels on another)."""
        if self.tile_size is None or self.tile_size == "auto":
            return auto_tile_size(self.tile_margin)
        return int(self.tile_size)

    @property
    def ascent(self) -> AscentSettings:
        return AscentSettings(
            self.resolved_tile_size(),
            self.tile_margin,
            self.jitter,
            self.normalize_gradients,
            self.smoothing,
        )


def _tile_size_ok(tile_size) -> bool:
    if tile_size is None or tile_size == "auto":
        return True
    return isinstance(tile_size, int) and not isinstance(tile_size, bool) and tile_size >= 64


@dataclass(frozen=True)
class Snapshot:
    """The image part-way through a dream, for progress GIFs."""

    octave: int  # 1-based
    octaves: int
    step: int  # steps done in this octave
    steps: int
    loss: float  # loss of this very image
    image: np.ndarray  # RGB float32 0..255 at this octave's size


@dataclass(frozen=True, eq=False)
class DreamState:
    """Where a dream stands: all it takes to continue it exactly where it stopped.

    Progress frames continue the dream of the frame before; a render killed mid-way
    stores this (``to_arrays`` -> ``np.savez``) and resumes from it bit for bit.
    """

    octave: int  # 0-based index into octave_shapes(...)
    step: int  # steps done in that octave (== settings.steps at an octave's end)
    image: np.ndarray  # model-space float32 at that octave's size (the 'current' image)
    detail: np.ndarray  # model-space detail carried between octaves: the image minus the
    # source's pyramid level; the next octave starts from its own
    # level plus this, upscaled (keep_source_detail)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """For ``np.savez``: the ints as 0-d arrays."""
        return {
            "octave": np.asarray(self.octave, np.int64),
            "step": np.asarray(self.step, np.int64),
            "image": np.asarray(self.image, np.float32),
            "detail": np.asarray(self.detail, np.float32),
        }

    @classmethod
    def from_arrays(cls, arrays) -> DreamState:
        """From ``to_arrays``' dict or the ``np.load`` of its ``np.savez``."""
        try:
            return cls(
                int(arrays["octave"]),
                int(arrays["step"]),
                np.array(arrays["image"], np.float32),
                np.array(arrays["detail"], np.float32),
            )
        except KeyError as missing:
            raise DreamreelError(f"stored dream state has no {missing}") from None


@dataclass
class DreamResult:
    image: np.ndarray  # RGB float32 0..255
    losses: list[np.ndarray] = field(default_factory=list)  # per octave worked on in this
    # call, loss before each step
    octave_losses: list[float] = field(default_factory=list)  # loss at each octave end
    # reached in this call
    final_loss: float = float("nan")  # loss of ``image`` (NaN when not measured)
    state: DreamState | None = None  # where the dream stands after this call
    finished: bool = False  # the last octave's last step is done


def octave_shapes(height: int, width: int, octaves: int, scale: float) -> list[tuple[int, int]]:
    """(h, w) per octave, smallest first, the last exactly (height, width).

    Octaves whose shorter side would fall below MIN_OCTAVE_SIDE are dropped, so tiny
    images still dream at their own size. No octave exceeds the frame on either side
    (``x / scale**k`` rounds to at most ``x`` for scale > 1; clamped all the same), and an
    earlier octave that would round to the frame's own size (a scale very close to 1)
    is dropped: every octave but the last is smaller than the frame.
    """
    shapes = []
    for k in range(octaves - 1, -1, -1):
        if k == 0:
            shapes.append((height, width))
            continue
        h = min(height, round(height / scale**k))
        w = min(width, round(width / scale**k))
        if min(h, w) >= MIN_OCTAVE_SIDE and (h, w) != (height, width):
            shapes.append((h, w))
    return shapes


def too_small_octaves(height: int, width: int, octaves: int, scale: float) -> int:
    """How many of ``octaves`` octave_shapes drops for falling under MIN_OCTAVE_SIDE."""
    return sum(
        1
        for k in range(1, octaves)
        if min(round(height / scale**k), round(width / scale**k)) < MIN_OCTAVE_SIDE
    )


def octave_note(height: int, width: int, octaves: int, scale: float, key: str) -> str | None:
    """A line saying which octaves a height x width image drops (None: none). ``key`` is
    the setting that asked for them, e.g. "dream.octaves"."""
    dropped = too_small_octaves(height, width, octaves, scale)
    if not dropped:
        return None
    kept = octaves - dropped
    which = "the smallest would be" if dropped == 1 else f"the {dropped} smallest would be"
    return (
        f"{dropped} of {octaves} octaves dropped ({key} = {octaves}): {width}x{height} "
        f"is too small, {which} under {MIN_OCTAVE_SIDE} px on a side; dreaming {kept} "
        f"octave{'s' if kept > 1 else ''}"
    )


def resize(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    h, w = shape
    if image.shape[:2] == (h, w):
        return image
    shrinking = h < image.shape[0]
    return cv2.resize(
        image, (w, h), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    )


@dataclass(frozen=True)
class TemporalTarget:
    """What the objective's temporal term holds a dream to: earlier dreamed frames warped
    onto this one (``reference``, RGB float32 0..255, the image's size) and how much each
    pixel is held (``weight``, (H, W) >= 0: 0 where no earlier frame's flow holds; the
    term's weight in the objective scales it all)."""

    reference: np.ndarray
    weight: np.ndarray

    def at(self, prep, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """(reference in model space, weight (h, w, 1)) at an octave's ``shape``."""
        reference = prep.to_model(resize(self.reference, shape))
        weight = resize(np.asarray(self.weight, np.float32), shape)
        return reference, weight.reshape(*shape, 1)


def ascent_for(model, settings: DreamSettings, objective=None) -> AscentStep:
    """The model's compiled Ascent for these settings' tiling options and ``objective``
    (kept on the model)."""
    return compiled_ascent(model, settings.ascent, objective)


def dream(
    image: np.ndarray,
    model,
    settings: DreamSettings = DreamSettings(),
    *,
    layer_weights: Sequence[float] | None = None,
    objective=None,
    mask: np.ndarray | None = None,
    temporal: TemporalTarget | None = None,
    measure_octave_ends: bool = True,
    snapshot_every: int | None = None,
    on_snapshot: Callable[[Snapshot], None] | None = None,
    resume: DreamState | None = None,
    max_steps: int | None = None,
) -> DreamResult:
    """Dream an RGB float image (0..255, any size) with ``model`` (a models.DreamModel).

    ``objective`` (a renderer.objective_graph.BoundObjective) says what to maximise;
    None: the model's layers' weighted mean activations. ``layer_weights`` (one per
    objective term: per model layer for the default) replaces its own weights for this
    dream. ``mask`` (H, W) in 0..1 at the image's size confines the gradient steps: black
    pixels take none, grey ones part (renderer/rendering/masks.py composites the result too);
    above 1, a pixel steps that much further (a video's pixels catching up).
    ``temporal`` is what an objective's temporal term holds the image to (at the image's
    size; resized with each octave); without it that term is 0.
    ``measure_octave_ends`` measures the loss of each octave's final image and of the
    image the call returns (one forward pass each, ~2-5% of a dream): what losses.csv
    logs. Callers that only want the image and the per-step losses
    (``renderer.dream_image``) switch it off.

    Octaves follow Google's original: the source is shrunk into a pyramid, each octave
    starts from that level plus the dream detail grown so far (upscaled), and the new
    detail is what the octave added. Without ``keep_source_detail`` each octave simply
    starts from the last one's result, upscaled (the TF tutorial's way): right for noise.
    With ``on_snapshot``, the image is reported at the start (of a call that starts the
    dream), every ``snapshot_every`` steps of an octave and at the end of each octave.

    In parts: ``image`` is always the source. ``resume`` (a previous result's ``state``)
    continues a dream; without it the dream starts at octave 0, step 0. ``max_steps``
    caps the steps this call runs, and a capped call also stops at the end of an octave
    (octave ends make frames); from an octave end that is not the last, a call begins
    the next octave. ``max_steps=0`` runs nothing and returns the state it starts from.
    Without ``max_steps`` the dream runs to its end. The random roll of every step
    depends only on (seed, octave * steps + step), so a dream run in parts of any size
    equals the dream run whole, bit for bit. ``result.image`` is then the RGB image at
    the state's octave size.

    A loss or image that becomes NaN or inf stops the dream with NumericalFault, naming
    the octave and step (renderer/engine/numeric_faults.py).
    """
    settings = settings.validate()
    rgb = np.asarray(image, np.float32)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise DreamreelError(f"expected an RGB image of shape (H, W, 3), got {rgb.shape}")
    if max_steps is not None and max_steps < 0:
        raise DreamreelError(f"max_steps must be >= 0, got {max_steps}")
    prep = model.preprocessing
    low, high = prep.low, prep.high
    ascent = compiled_ascent(model, settings.ascent, objective)
    if mask is not None:
        mask = np.asarray(mask, np.float32)
        if mask.shape != rgb.shape[:2]:
            raise DreamreelError(
                f"the mask is {mask.shape[1]}x{mask.shape[0]}, the image "
                f"{rgb.shape[1]}x{rgb.shape[0]}"
            )
    if temporal is not None and (
        temporal.reference.shape != rgb.shape or temporal.weight.shape != rgb.shape[:2]
    ):
        raise DreamreelError(
            f"the temporal reference {temporal.reference.shape} and weight "
            f"{temporal.weight.shape} do not fit the image {rgb.shape}"
        )
    # A step moves every channel by the same fraction of its range, whatever the family.
    # An absurd step_size overflows float32 here: no warning, the first step reports it.
    with np.errstate(over="ignore"):
        step_size = settings.step_size * (high - low) / 2.0
    source = prep.to_model(rgb)
    shapes = octave_shapes(rgb.shape[0], rgb.shape[1], settings.octaves, settings.octave_scale)
    last, steps = len(shapes) - 1, settings.steps
    chunk = max(1, snapshot_every if (on_snapshot and snapshot_every) else steps)

    if resume is None:
        octave, done = 0, 0
        base = resize(source, shapes[0])
        current = np.clip(base, low, high)
        carried = None  # detail of the state we started from, while still valid
    else:
        _check_state(resume, shapes, steps)
        octave, done, current, carried = resume.octave, resume.step, resume.image, resume.detail
        base = resize(source, shapes[octave])
    result = DreamResult(image=rgb)
    parts: list[np.ndarray] = []  # this octave's per-step losses in this call
    known_loss: float | None = None  # loss of `current`, when measured already

    def report(step: int, loss: float) -> None:  # called only with an on_snapshot
        if on_snapshot is not None:
            shown = prep.from_model(current)
            on_snapshot(Snapshot(octave + 1, len(shapes), step, steps, loss, shown))

    def octave_mask(index: int) -> np.ndarray | None:
        return None if mask is None else resize(mask, shapes[index])

    held_at: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # per octave, made once

    def octave_held(index: int) -> tuple[np.ndarray, np.ndarray] | None:
        if temporal is None:
            return None
        if index not in held_at:
            held_at[index] = temporal.at(prep, shapes[index])
        return held_at[index]

    def measured(step: int) -> float:  # the loss of `current`, never NaN or inf
        loss = ascent.loss(current, layer_weights, octave_held(octave))
        return checked_loss(loss, octave=octave + 1, step=step)

    if on_snapshot and resume is None:
        known_loss = measured(0)
        report(0, known_loss)
    entered = resume is None  # this octave began in this call
    if max_steps != 0:
        budget = max_steps
        while True:
            while done < steps and budget != 0:
                n = min(steps - done, chunk - done % chunk)
                if budget is not None:
                    n = min(n, budget)
                    budget -= n
                try:
                    current, losses = ascent.run(
                        current,
                        n,
                        step_size,
                        octave * steps + done,
                        settings.seed,
                        layer_weights,
                        octave_mask(octave),
                        octave_held(octave),
                    )
                except NumericalFault as fault:  # its step counts within this run
                    fault.octave = octave + 1
                    if fault.step is not None:  # check_steps always names it
                        fault.step += done
                    raise
                parts.append(losses)
                done += n
                carried = known_loss = None
                if on_snapshot and done < steps and done % chunk == 0:
                    known_loss = measured(done)
                    report(done, known_loss)
            if done < steps:  # the budget ran out inside the octave
                break
            if entered or parts:  # this octave ended in this call
                end_loss = measured(done) if measure_octave_ends or on_snapshot else float("nan")
                if on_snapshot:
                    report(done, end_loss)
                result.octave_losses.append(end_loss)
                result.losses.append(np.concatenate(parts) if parts else np.zeros(0, np.float32))
                parts = []
                known_loss = end_loss if measure_octave_ends or on_snapshot else None
                if max_steps is not None:
                    break
            if octave == last:
                break
            # The next octave: its pyramid level plus the detail dreamed so far.
            detail = carried if carried is not None else current - base
            octave, done, entered, carried = octave + 1, 0, True, None
            base = resize(source, shapes[octave])
            if settings.keep_source_detail:
                current = np.clip(base + resize(detail, shapes[octave]), low, high)
            else:
                current = resize(current, shapes[octave])
        if parts:
            result.losses.append(np.concatenate(parts))
    if known_loss is None and measure_octave_ends:
        known_loss = measured(done)
    result.final_loss = float("nan") if known_loss is None else known_loss
    result.state = DreamState(
        octave, done, current, carried if carried is not None else current - base
    )
    result.finished = octave == last and done >= steps
    result.image = np.clip(prep.from_model(current), 0.0, 255.0)
    return result


def _check_state(state: DreamState, shapes: list[tuple[int, int]], steps: int) -> None:
    """A stored state must belong to this image and these settings."""
    fits = (
        0 <= state.octave < len(shapes)
        and 0 <= state.step <= steps
        and state.image.shape == (*shapes[state.octave], 3)
        and state.detail.shape == state.image.shape
    )
    if not fits:
        raise DreamreelError(
            f"dream state (octave {state.octave}, step {state.step}, image "
            f"{tuple(state.image.shape)}) does not fit this image and settings "
            f"({len(shapes)} octaves {shapes}, {steps} steps each)"
        )
