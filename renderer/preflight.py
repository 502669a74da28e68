"""What `dreamreel render` checks before TensorFlow loads (its import alone takes seconds).

A spec that loaded is already valid (renderer.spec); this adds what the spec cannot know:
that the input exists and can be read, and that the model and its layers exist (layer
names from renderer.layer_names, without building the model). Nothing here imports
TensorFlow or Keras, and nothing is written.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import DreamreelError


def check_before_loading(spec) -> None:
    """Raise DreamreelError (one line) for an input or model choice the render would
    only refuse after loading TensorFlow and the model."""
    if spec.input:
        check_input(Path(spec.input))
    from .input_sizes import check_input_sizes

    check_input_sizes(spec)  # from the header: too many pixels, or frames too small
    from .audio_features import check_audio_schedules, check_track

    check_audio_schedules(spec)  # an "audio:" schedule needs a track
    if spec.audio:
        check_track(spec.audio)  # missing, unreadable, no audio stream, no sound
    if spec.mask:
        from .masks import check_mask

        check_mask(spec)  # missing, unreadable, a folder with gaps, shorter than the clip
    check_model(spec.model, None if spec.layers is None else list(spec.layers),
                spec.preprocess)
    from .objectives import check_objective

    check_objective(spec.objective, spec.model)  # layers, class names, guide images


def check_input(path: Path) -> None:
    """The input exists and its first byte can be read (a folder: it can be listed)."""
    if not path.exists():
        raise DreamreelError(f"cannot read input '{path}': no such file or folder")
    if path.is_dir():
        if not os.access(path, os.R_OK | os.X_OK):
            raise DreamreelError(f"cannot read input folder '{path}': permission denied")
        return
    try:
        with open(path, "rb") as f:
            first = f.read(1)
    except OSError as error:
        raise DreamreelError(f"cannot read input '{path}': "
                             f"{error.strerror or error}") from None
    if not first:
        raise DreamreelError(f"cannot read input '{path}': the file is empty")


def check_model(model: str, layers: list[str] | None, preprocess: str | None) -> None:
    from .layer_names import check_layers
    from .models import REGISTRY, is_model_file
    from .preprocessing import get_preprocessing

    if preprocess is not None:
        get_preprocessing(preprocess)
    if is_model_file(model):
        if not Path(model).expanduser().is_file():
            raise DreamreelError(f"model file {Path(model).expanduser()} does not exist")
        if layers is None:  # the same line the model loader gives
            raise DreamreelError(f"model file {model} has no default layers; choose some "
                                 f"(list them: dreamreel models layers {model})")
    else:
        REGISTRY.get(model)  # an unknown name: one line with the closest names
    check_layers(model, layers)
