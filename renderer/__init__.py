"""dreamreel: batch renderer of DeepDream animations.

Notebook API (the CLI runs the very same code):

    import renderer
    image, losses = renderer.dream_image(photo, model="mobilenet_v2_dogs", steps=30)

Heavy libraries (TensorFlow) load on first use, so ``import renderer`` is quick.
"""

from __future__ import annotations

from .runtime.errors import DreamreelError
from .runtime.version import __version__

__all__ = ["DreamreelError", "dream_image", "load_model", "make_noise", "render", "__version__"]


def dream_image(
    image,
    model="mobilenet_v2_dogs",
    layers=None,
    *,
    preprocess=None,
    snapshot_every=None,
    on_snapshot=None,
    **settings,
):
    """Dream one image; returns ``(dreamed_image, losses)``.

    image     -- RGB numpy array (H, W, 3): uint8 0..255, or float in 0..1; the result
                 has the same dtype and range.
    model     -- a registered model name (``dreamreel models list``) or a .keras/.h5 path:
                 the last few loaded are kept, so the next call pays for the dream alone;
                 or a model from ``renderer.load_model`` (then no layers/preprocess here).
    layers    -- layer names, or {name: weight}; None takes the model's defaults.
    settings  -- any field of ``renderer.engine.dream.DreamSettings`` (steps, step_size,
                 octaves, octave_scale, tile_size, jitter, normalize_gradients,
                 smoothing, seed, ...).
    losses    -- one numpy array per octave: the loss before each step.
    """
    import os

    import numpy as np

    from .engine.dream import DreamSettings, dream  # lazy: keeps `import renderer` quick

    array = np.asarray(image)
    is_uint8 = array.dtype == np.uint8
    rgb = array.astype(np.float32) if is_uint8 else array.astype(np.float32) * 255.0
    try:
        dream_settings = DreamSettings(**settings)
    except TypeError as exc:
        raise DreamreelError(f"dream_image: {exc}") from None
    if isinstance(model, (str, os.PathLike)):
        dream_model = load_model(model, layers, preprocess=preprocess)
    elif layers is not None or preprocess is not None:
        raise DreamreelError(
            "dream_image: a loaded model has its layers and preprocessing; "
            "pass them to renderer.load_model instead"
        )
    else:
        dream_model = model
    result = dream(
        rgb,
        dream_model,
        dream_settings,
        measure_octave_ends=False,
        snapshot_every=snapshot_every,
        on_snapshot=on_snapshot,
    )
    if is_uint8:
        from .media.images import to_uint8  # lazy: as above

        out = to_uint8(result.image)
    else:
        out = (result.image / 255.0).astype(array.dtype if array.dtype.kind == "f" else np.float32)
    return out, result.losses


def load_model(model="mobilenet_v2_dogs", layers=None, *, preprocess=None):
    """A dream model to pass to ``dream_image`` (or ``renderer.engine.dream.dream``): a registered
    name or a .keras/.h5 path, with layer names or {name: weight} (None: the defaults).

    The last few models loaded by name are kept, with their compiled gradient steps; the
    returned object keeps its own, so a notebook can hold on to it for any number of calls.
    """
    from .models.loading import cached_dream_model  # lazy: keeps `import renderer` quick

    return cached_dream_model(model, layers, preprocess=preprocess)


def make_noise(height: int, width: int, *, kind: str = "uniform", seed: int = 0):
    """Seeded RGB uint8 noise to dream from (see renderer.noise)."""
    from .imaging.noise import make_noise as _make_noise  # lazy: keeps `import renderer` quick

    return _make_noise(height, width, kind=kind, seed=seed)


def render(preset, **options):
    """Render a preset (name, .toml path or RenderSpec) into a folder: the CLI's
    ``dreamreel render``. See ``renderer.pipeline.render`` for the options."""
    from .rendering.render_preset import render as _render  # lazy: keeps `import renderer` quick

    return _render(preset, **options)
