"""What `dreamreel render` checks before TensorFlow loads (its import alone takes seconds).

A spec that loaded is already valid (renderer.rendering.spec); this adds what the spec cannot know:
that the input exists and can be read, and that the model and its layers exist (layer
names from renderer.layer_names, without building the model). Nothing here imports
TensorFlow or Keras, and nothing is written.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from ..media.image_header import read_image_header
from ..media.limits import check_input_pixels
from ..models.class_labels import class_index
from ..models.layer_names import check_layers
from ..models.model_files import is_model_file
from ..runtime.atomic_files import user_os_errors
from ..runtime.errors import DreamreelError
from ..store.out_folder import (
    check_input_outside,
    check_manifest_is_dreamreels,
    check_no_managed_links,
)

if TYPE_CHECKING:
    from ..engine.objectives import Objective


def check_before_loading(spec) -> None:
    """Raise DreamreelError (one line) for an input or model choice the render would
    only refuse after loading TensorFlow and the model."""
    if spec.input:
        check_input(Path(spec.input))
    from .input_sizes import check_input_sizes  # lazy: loads OpenCV, numpy

    check_input_sizes(spec)  # from the header: too many pixels, or frames too small
    from ..schedules.audio_features import check_track  # lazy: loads numpy
    from .schedule_binding import (  # lazy: loads numpy
        check_audio_schedules,
        check_schedules_before_loading,
    )

    check_audio_schedules(spec)  # an "audio:" schedule needs a track
    check_schedules_before_loading(spec)  # a value at every frame (exp(t*100) overflows)
    if spec.audio:
        check_track(spec.audio)  # missing, unreadable, no audio stream, no sound
    if spec.mask:
        from .masks import check_mask  # lazy: loads OpenCV, numpy

        check_mask(spec)  # missing, unreadable, a folder with gaps, shorter than the clip
    check_model(spec.model, None if spec.layers is None else list(spec.layers), spec.preprocess)
    check_objective(spec.objective, spec.model)  # layers, class names, guide images


def check_out_folder(spec, out_dir: Path, *, restart: bool) -> None:
    """Refuse, before the model loads and before anything in ``out_dir`` changes: a managed
    name there that is a symbolic link, an input among its managed files (--restart would
    delete it), and a manifest.json that is not dreamreel's (unless ``restart``)."""
    check_no_managed_links(out_dir)
    check_inputs_outside(spec, out_dir)
    if not restart:
        check_manifest_is_dreamreels(out_dir)


def check_inputs_outside(spec, out_dir: Path) -> None:
    """Refuse any file the render reads that lies among ``out_dir``'s managed files."""
    for what, path in input_paths(spec):
        check_input_outside(out_dir, path, what=what, mode=spec.mode)


def input_paths(spec) -> list[tuple[str, str]]:
    """(what, path) of every file the render reads: the input, mask, music track, morph's
    photos and the objective's guide images."""
    morph = spec.tables.get("morph")
    found = [
        ("input", spec.input),
        ("mask", spec.mask),
        ("audio track", spec.audio),
        *(("morph image", path) for path in getattr(morph, "images", ())),
        *(("objective guide image", path) for path in _guide_paths(spec.objective)),
    ]
    return [(what, path) for what, path in found if path]


def _guide_paths(objective: Objective | None) -> list[str]:
    return [] if objective is None else objective.guide_paths()


def check_input(path: Path) -> None:
    """The input exists and its first byte can be read (a folder: it can be listed)."""
    # A name too long for the file system, a loop of links, a folder on the way that may
    # not be entered: the OS's reason in one line (the path once), not an OSError.
    with user_os_errors(path, "read input"):
        try:
            info = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            raise DreamreelError(f"cannot read input '{path}': no such file or folder") from None
        except ValueError:  # a NUL in the name (load_spec refuses one in a setting)
            raise DreamreelError(f"cannot read input {str(path)!r}: a NUL in its name") from None
        if stat.S_ISDIR(info.st_mode):
            if not os.access(path, os.R_OK | os.X_OK):
                raise DreamreelError(f"cannot read input folder '{path}': permission denied")
            return
        with open(path, "rb") as f:
            first = f.read(1)
    if not first:
        raise DreamreelError(f"cannot read input '{path}': the file is empty")


def check_model(model: str, layers: list[str] | None, preprocess: str | None) -> None:
    from ..models.preprocessing import get_preprocessing  # lazy: loads numpy
    from ..models.registry import REGISTRY  # lazy: loads numpy

    if preprocess is not None:
        get_preprocessing(preprocess)
    if is_model_file(model):
        path = Path(model).expanduser()
        with user_os_errors(path, "read model file"):  # a name too long, a loop of links
            found = path.is_file()
        if not found:
            raise DreamreelError(f"model file {path} does not exist")
        if layers is None:  # the same line the model loader gives
            raise DreamreelError(
                f"model file {model} has no default layers; choose some "
                f"(list them: dreamreel models layers {model})"
            )
    else:
        REGISTRY.get(model)  # an unknown name: one line with the closest names
    check_layers(model, layers)


def check_objective(objective: Objective | None, model: str) -> None:
    """Refuse, before TensorFlow, what binding would refuse later: unknown layers, class
    names the model's labels lack, guide images that cannot be read."""
    if objective is None:
        return
    from ..engine.objective_layers import resolved_objective  # lazy: loads numpy
    from .input_sizes import check_image_file  # lazy: loads OpenCV, numpy

    resolved = resolved_objective(objective, model)
    check_layers(model, resolved.layer_names())
    for term in resolved.terms:
        if term.kind == "class":
            class_index(model, term.key)
    for path in resolved.guide_paths():
        try:
            check_input(Path(path))
            check_image_file(Path(path))
            header = read_image_header(path)
            if header is not None:  # a bomb is refused before anything decodes it
                check_input_pixels(path, header.width, header.height)
        except DreamreelError as error:
            raise DreamreelError(f"objective guide image: {error}") from None
