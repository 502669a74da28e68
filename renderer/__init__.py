"""dreamreel: batch renderer of DeepDream animations.

Notebook API (the CLI runs the very same code):

    import renderer
    image, losses = renderer.dream_image(photo, model="mobilenet_v2_dogs", steps=30)

Heavy libraries (TensorFlow) load on first use, so ``import renderer`` is quick.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import DreamreelError  # noqa: E402  (cheap, and what callers catch)

__all__ = ["DreamreelError", "dream_image", "make_noise", "__version__"]


def dream_image(image, model: str = "mobilenet_v2_dogs", layers=None, *, preprocess=None,
                snapshot_every=None, on_snapshot=None, **settings):
    """Dream one image; returns ``(dreamed_image, losses)``.

    image     -- RGB numpy array (H, W, 3): uint8 0..255, or float in 0..1; the result
                 has the same dtype and range.
    model     -- a registered model name (``dreamreel models list``) or a .keras/.h5 path.
    layers    -- layer names, or {name: weight}; None takes the model's defaults.
    settings  -- any field of ``renderer.dream.DreamSettings`` (steps, step_size,
                 octaves, octave_scale, tile_size, jitter, normalize_gradients,
                 smoothing, seed, ...).
    losses    -- one numpy array per octave: the loss before each step.
    """
    import numpy as np

    from .dream import DreamSettings, dream
    from .models import load_dream_model

    array = np.asarray(image)
    is_uint8 = array.dtype == np.uint8
    rgb = array.astype(np.float32) if is_uint8 else array.astype(np.float32) * 255.0
    try:
        dream_settings = DreamSettings(**settings)
    except TypeError as exc:
        raise DreamreelError(f"dream_image: {exc}") from None
    dream_model = load_dream_model(model, layers, preprocess=preprocess)
    result = dream(rgb, dream_model, dream_settings, measure_octave_ends=False,
                   snapshot_every=snapshot_every, on_snapshot=on_snapshot)
    if is_uint8:
        from renderer.media.images import to_uint8

        out = to_uint8(result.image)
    else:
        out = (result.image / 255.0).astype(array.dtype if array.dtype.kind == "f" else np.float32)
    return out, result.losses


def make_noise(height: int, width: int, *, kind: str = "uniform", seed: int = 0):
    """Seeded RGB uint8 noise to dream from (see renderer.noise)."""
    from .noise import make_noise as _make_noise

    return _make_noise(height, width, kind=kind, seed=seed)
