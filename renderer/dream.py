"""The octave dream: model + layers -> dreamed image and its loss history.

Knows nothing about files or frames. Images come in and go out as RGB float32 in
0..255; the gradient steps run in the model's own input space (``ascent.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import cv2
import numpy as np

from .ascent import Ascent, AscentSettings
from .errors import DreamreelError

# Below this side a net's stride-32 stages run out of pixels (InceptionV3 needs 75).
MIN_OCTAVE_SIDE = 80


@dataclass(frozen=True)
class DreamSettings:
    """How hard and how finely to dream (one commented settings block, keras-io style)."""

    steps: int = 20               # gradient-ascent steps per octave
    step_size: float = 0.02       # per step, relative to half the model's input range
    octaves: int = 3              # number of scales, the last one the full size
    octave_scale: float = 1.4     # size ratio between neighbouring octaves
    tile_size: int = 512          # gradients per tile of at most this side: bounded memory
    tile_margin: int = 64         # context around each tile, so tile borders leave no seams
    jitter: int = 32              # max random roll per step, in pixels
    normalize_gradients: bool = True  # divide the gradient by its std (TF tutorial)
    smoothing: float = 0.0        # Gaussian sigma (px) on the gradient; 0 is off
    keep_source_detail: bool = True  # re-add the source's fine detail at each octave (off
                                     # for noise: its pixel grain would come back each time)
    seed: int = 0                 # random rolls; the same seed gives the same dream

    def validate(self) -> "DreamSettings":
        checks = [
            (self.steps >= 0, "dream.steps must be >= 0"),
            (self.step_size != 0, "dream.step_size must not be 0"),
            (self.octaves >= 1, "dream.octaves must be >= 1"),
            (self.octave_scale > 1.0, "dream.octave_scale must be > 1"),
            (self.tile_size >= 64, "dream.tile_size must be >= 64"),
            (self.tile_margin >= 0, "dream.tile_margin must be >= 0"),
            (self.jitter >= 0, "dream.jitter must be >= 0"),
            (self.smoothing >= 0, "dream.smoothing must be >= 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise DreamreelError(message)
        return self

    @property
    def ascent(self) -> AscentSettings:
        return AscentSettings(self.tile_size, self.tile_margin, self.jitter,
                              self.normalize_gradients, self.smoothing)


@dataclass(frozen=True)
class Snapshot:
    """The image part-way through a dream, for progress GIFs."""

    octave: int            # 1-based
    octaves: int
    step: int              # steps done in this octave
    steps: int
    loss: float            # loss of this very image
    image: np.ndarray      # RGB float32 0..255 at this octave's size


@dataclass
class DreamResult:
    image: np.ndarray                                        # RGB float32 0..255
    losses: list[np.ndarray] = field(default_factory=list)  # per octave, loss before each step
    octave_losses: list[float] = field(default_factory=list)  # loss at the end of each octave

    @property
    def final_loss(self) -> float:
        return self.octave_losses[-1] if self.octave_losses else float("nan")


def octave_shapes(height: int, width: int, octaves: int, scale: float) -> list[tuple[int, int]]:
    """(h, w) per octave, smallest first, the last exactly (height, width).

    Octaves whose shorter side would fall below MIN_OCTAVE_SIDE are dropped, so tiny
    images still dream at their own size.
    """
    shapes = []
    for k in range(octaves - 1, -1, -1):
        h, w = round(height / scale**k), round(width / scale**k)
        if k == 0 or min(h, w) >= MIN_OCTAVE_SIDE:
            shapes.append((max(1, h), max(1, w)))
    return shapes


def resize(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    h, w = shape
    if image.shape[:2] == (h, w):
        return image
    shrinking = h < image.shape[0]
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


_ASCENTS: dict[tuple[int, AscentSettings], Ascent] = {}


def ascent_for(model, settings: DreamSettings) -> Ascent:
    """One compiled Ascent per (model, tiling options): retracing costs seconds."""
    key = (id(model), settings.ascent)
    if key not in _ASCENTS:
        _ASCENTS[key] = Ascent(model, settings.ascent)
    return _ASCENTS[key]


def dream(image: np.ndarray, model, settings: DreamSettings = DreamSettings(), *,
          layer_weights: Sequence[float] | None = None,
          measure_octave_ends: bool = True,
          snapshot_every: int | None = None,
          on_snapshot: Callable[[Snapshot], None] | None = None) -> DreamResult:
    """Dream an RGB float image (0..255, any size) with ``model`` (a models.DreamModel).

    ``layer_weights`` (one per model layer) replaces the model's own for this dream.
    ``measure_octave_ends`` measures the loss of each octave's final image (one forward
    pass an octave, ~2-5% of a dream): what losses.csv logs. Callers that only want the
    image and the per-step losses (``renderer.dream_image``) switch it off.

    Octaves follow Google's original: the source is shrunk into a pyramid, each octave
    starts from that level plus the dream detail grown so far (upscaled), and the new
    detail is what the octave added. Without ``keep_source_detail`` each octave simply
    starts from the last one's result, upscaled (the TF tutorial's way): right for noise.
    With ``on_snapshot``, the image is reported at the start, every ``snapshot_every``
    steps and at the end of each octave.
    """
    settings = settings.validate()
    rgb = np.asarray(image, np.float32)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise DreamreelError(f"expected an RGB image of shape (H, W, 3), got {rgb.shape}")
    prep = model.preprocessing
    ascent = ascent_for(model, settings)
    # A step moves every channel by the same fraction of its range, whatever the family.
    step_size = settings.step_size * (prep.high - prep.low) / 2.0
    source = prep.to_model(rgb)
    shapes = octave_shapes(*rgb.shape[:2], settings.octaves, settings.octave_scale)
    chunk = snapshot_every if (on_snapshot and snapshot_every) else settings.steps
    result = DreamResult(image=rgb)
    detail = np.zeros((*shapes[0], 3), np.float32)
    first_step = 0
    for octave, shape in enumerate(shapes, start=1):
        base = resize(source, shape)
        if octave == 1 or settings.keep_source_detail:
            current = np.clip(base + resize(detail, shape), prep.low, prep.high)
        else:
            current = resize(current, shape)
        octave_losses: list[np.ndarray] = []

        def report(done: int) -> None:
            if on_snapshot:
                on_snapshot(Snapshot(octave, len(shapes), done, settings.steps,
                                     ascent.loss(current, layer_weights),
                                     prep.from_model(current)))

        if octave == 1:
            report(0)
        done = 0
        while done < settings.steps:
            n = min(max(1, chunk), settings.steps - done)
            current, losses = ascent.run(current, n, step_size, first_step + done, settings.seed,
                                         layer_weights)
            octave_losses.append(losses)
            done += n
            if done < settings.steps:
                report(done)
        first_step += settings.steps
        end_loss = (ascent.loss(current, layer_weights) if measure_octave_ends or on_snapshot
                     else float("nan"))
        if on_snapshot:
            on_snapshot(Snapshot(octave, len(shapes), done, settings.steps, end_loss,
                                 prep.from_model(current)))
        result.losses.append(np.concatenate(octave_losses) if octave_losses else np.zeros(0))
        result.octave_losses.append(end_loss)
        detail = current - base
    result.image = np.clip(prep.from_model(current), 0.0, 255.0)
    return result

