"""dreamreel: batch renderer of DeepDream animations.

Notebook API (the CLI runs the very same code):

    import renderer
    result = renderer.render("noise-zoom", frames=24)    # a render folder; shows inline
    image, losses = renderer.dream_image("photo.jpg", steps=30)

Heavy libraries (TensorFlow) load on first use, so ``import renderer`` is quick; they
load without TensorFlow's start-up log lines. A mistake a user can fix raises
DreamreelError, one line that names the keyword to change (``restart=True``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .runtime.errors import DreamreelError
from .runtime.version import __version__

if TYPE_CHECKING:
    import numpy as np

    from .engine.dream import Snapshot
    from .models.loading import DreamModel
    from .rendering.render_result import RenderResult
    from .rendering.spec import RenderSpec

__all__ = ["DreamreelError", "dream_image", "load_model", "make_noise", "render", "__version__"]

Layers = Sequence[str] | Mapping[str, float] | None


def dream_image(
    image: str | os.PathLike | np.ndarray,
    model: str | os.PathLike | DreamModel = "mobilenet_v2_dogs",
    layers: Layers = None,
    *,
    steps: int = 20,
    step_size: float = 0.02,
    octaves: int = 3,
    octave_scale: float = 1.4,
    jitter: int = 32,
    smoothing: float = 0.0,
    tile_size: int | str | None = None,
    seed: int = 0,
    input_background: str = "#ffffff",
    max_input_pixels: int | None = 100_000_000,
    preprocess: str | None = None,
    snapshot_every: int | None = None,
    on_snapshot: Callable[[Snapshot], None] | None = None,
    **settings: Any,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Dream one image; returns ``(dreamed_image, losses)``.

    image       -- a path ("photo.jpg", any format OpenCV or Pillow reads), a PIL image,
                   or an array: greyscale (H, W) / (H, W, 1), RGB (H, W, 3) or RGBA
                   (H, W, 4); uint8 0..255 or float 0..1. The result is RGB (H, W, 3):
                   uint8 for a path, a PIL image or uint8 pixels, else the input's float
                   dtype in 0..1.
    model       -- a registered model name (``dreamreel models list``) or a .keras/.h5
                   path (the last few loaded are kept, so the next call pays for the
                   dream alone), or a model from ``renderer.load_model``.
    layers      -- layer names, or {name: weight}; None takes the model's defaults.
    steps, step_size, octaves, octave_scale, jitter, smoothing, tile_size, seed
                -- how hard and how finely to dream: gradient steps per octave, the step
                   (relative to the model's input range), the number of scales and their
                   ratio, the random roll per step (px), Gaussian smoothing of the
                   gradient (px), tiles of at most this side (None: from the memory),
                   the seed of the rolls.
    input_background -- "#rrggbb" behind transparent pixels (RGBA arrays, PNGs with
                   alpha): white by default, as a render flattens a transparent input.
    max_input_pixels -- a picture above this many pixels is refused (a file from its
                   header, before decoding); None: no limit.
    settings    -- any other field of ``renderer.engine.dream.DreamSettings``
                   (tile_margin, normalize_gradients, keep_source_detail).
    on_snapshot -- called with the image part-way through, every ``snapshot_every`` steps.

    losses: one numpy array per octave, the loss before each step.
    """
    from .cli.python_spelling import spelled_for_python  # lazy: keeps `import renderer` quick

    with spelled_for_python(settings_as_keywords=True):
        # lazy: numpy, OpenCV and (through the model) TensorFlow load on first use
        from .cli.dream_image_inputs import dream_settings, given_back, picture
        from .engine.dream import dream
        from .models.loading import DreamModel

        dream_settings_ = dream_settings(
            dict(
                steps=steps,
                step_size=step_size,
                octaves=octaves,
                octave_scale=octave_scale,
                jitter=jitter,
                smoothing=smoothing,
                tile_size=tile_size,
                seed=seed,
                **settings,
            )
        )
        source = picture(image, background=input_background, max_pixels=max_input_pixels)
        if isinstance(model, DreamModel):
            if layers is not None or preprocess is not None:
                raise DreamreelError(
                    "dream_image: a loaded model has its layers and preprocessing; "
                    "pass them to renderer.load_model instead"
                )
            dream_model = model
        elif isinstance(model, (str, os.PathLike)):
            dream_model = load_model(model, layers, preprocess=preprocess)
        else:
            raise DreamreelError(
                "dream_image: model must be a registered name, a .keras/.h5 path or "
                f"renderer.load_model(...)'s result, got {type(model).__name__}"
            )
        result = dream(
            source.rgb,
            dream_model,
            dream_settings_,
            measure_octave_ends=False,
            snapshot_every=snapshot_every,
            on_snapshot=on_snapshot,
        )
        return given_back(result.image, source.dtype), result.losses


def load_model(
    model: str | os.PathLike = "mobilenet_v2_dogs",
    layers: Layers = None,
    *,
    preprocess: str | None = None,
) -> DreamModel:
    """A dream model to pass to ``dream_image`` (or ``renderer.engine.dream.dream``): a
    registered name or a .keras/.h5 path, with layer names or {name: weight} (None: the
    model's defaults); ``preprocess`` names a user model file's input scaling.

    The last few models loaded by name are kept, with their compiled gradient steps; the
    returned object keeps its own, so a notebook can hold on to it for any number of calls.
    """
    from .cli.python_spelling import spelled_for_python  # lazy: keeps `import renderer` quick

    with spelled_for_python(settings_as_keywords=True):
        # lazy: TensorFlow (through Keras) loads here, and only here
        from .models.loading import cached_dream_model
        from .runtime.quiet_tensorflow import use_backend_quietly

        use_backend_quietly()  # the backend chosen, TensorFlow loaded without its log lines
        return cached_dream_model(model, layers, preprocess=preprocess)


def make_noise(height: int, width: int, *, kind: str = "uniform", seed: int = 0) -> np.ndarray:
    """Seeded RGB uint8 noise (H, W, 3) to dream from; ``kind``: uniform, gaussian,
    fractal... (``renderer.imaging.noise.NOISE_KINDS``)."""
    from .imaging.noise import make_noise as _make_noise  # lazy: keeps `import renderer` quick

    return _make_noise(height, width, kind=kind, seed=seed)


def render(
    preset: str | os.PathLike[str] | RenderSpec,
    *,
    input: str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    overrides: Sequence[str] = (),
    restart: bool = False,
    progress: bool | Callable[[int, int, float | None], None] | None = None,
    max_frames: int | None = None,
    **settings: Any,
) -> RenderResult:
    """Render a preset into a folder, as ``dreamreel render`` does; returns a RenderResult
    (shown in a notebook as the GIF or video, its frames, time and stability).

    preset     -- a shipped preset's name ("noise-zoom", ``dreamreel presets``), a .toml
                  path or a RenderSpec.
    input      -- a photo (zoom, progress, morph) or a clip / folder of frames (video).
    out        -- the render folder, or a URL (s3://bucket/x); default:
                  renders/<preset>-<input>-<hash of the settings>. An earlier render of
                  the same settings there is resumed, a different one refused unless
                  ``restart=True`` (which deletes its frames).
    overrides  -- ["dream.steps=8", "zoom.scale=1.05"]: "key=value" strings, read as
                  the CLI's --set reads them.
    settings   -- the same as keywords, tables as dicts: frames=24, width=128,
                  dream={"steps": 8}, zoom={"scale": 1.05}.
    progress   -- None: a bar where someone watches (a notebook, a terminal); True: a
                  bar; False: none; or a function called as (frames done, total, loss).
    max_frames -- with an ``audio`` track, which sets the frame count: only the first
                  max_frames (a preview; the same call without it extends the render).
    """
    from .cli.python_spelling import spelled_for_python  # lazy: keeps `import renderer` quick

    with spelled_for_python():
        # lazy: numpy, OpenCV and the render wing (TensorFlow loads inside, quietly)
        from .cli.api_progress import frame_progress, preset_label
        from .rendering.render_preset import render as _render

        if isinstance(overrides, (str, bytes)):  # a string would be read letter by letter
            raise DreamreelError(
                f'overrides must be a list of "key=value" strings, e.g. ["dream.steps=8"], '
                f"got the string {overrides!r}"
            )
        if not isinstance(restart, bool):
            raise DreamreelError(f"restart must be True or False, got {restart!r}")
        label = os.fspath(preset) if isinstance(preset, os.PathLike) else preset
        with frame_progress(progress, preset_label(label)) as report:
            return _render(
                label,
                input=None if input is None else os.fspath(input),
                out=None if out is None else os.fspath(out),
                overrides=list(overrides),
                restart=restart,
                progress=report,
                max_frames=max_frames,
                **settings,
            )
