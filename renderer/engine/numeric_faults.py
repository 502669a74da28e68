"""A NaN or inf in a dream: the error that stops the render, and where it happened.

The engine finds the fault (renderer/engine/ascent.py: per step, inside the compiled loop), the
octave dream says which octave and step (renderer/engine/dream.py), the frame loop which frame
(renderer/rendering/frame_loop.py): each adds what it knows and raises the same error on.
"""

from __future__ import annotations

import math

import numpy as np

from ..runtime.errors import DreamreelError

_HINT = "try a smaller dream.step_size"


class NumericalFault(DreamreelError):
    """The loss or the image stopped being a finite number.

    ``step`` counts from 1 (the step whose loss or update went bad; an octave's last step
    for the loss measured at its end); ``octave`` and ``frame`` count from 1 too, ``frame``
    as the frame's file (000012.png is frame 12). None while not known yet.
    """

    def __init__(
        self,
        what: str,
        value: float | None = None,
        *,
        step: int | None = None,
        octave: int | None = None,
        frame: int | None = None,
    ):
        super().__init__(what)
        self.what, self.value = what, value
        self.step, self.octave, self.frame = step, octave, frame

    def __str__(self) -> str:
        where = [
            f"{name} {number}"
            for name, number in (
                ("frame", self.frame),
                ("octave", self.octave),
                ("step", self.step),
            )
            if number is not None
        ]
        became = "nan" if self.value is None or math.isnan(self.value) else str(self.value)
        if self.what == "image":
            became = "nan or inf"
        text = f"the {self.what} became {became}"
        if self.frame is not None:
            text += "; the frame was not written"
        return f"{', '.join(where)}: {text} ({_HINT})" if where else f"{text} ({_HINT})"


def check_steps(losses: np.ndarray, image_finite: np.ndarray) -> None:
    """Raise NumericalFault for the first bad step of a compiled run: ``losses[i]`` is the
    loss step i measured, ``image_finite[i]`` whether the image it moved stayed finite.
    ``step`` is then 1-based within this run."""
    bad_loss = ~np.isfinite(losses)
    bad_image = ~np.asarray(image_finite, bool)
    if not (bad_loss.any() or bad_image.any()):
        return
    for index, (loss_bad, image_bad) in enumerate(zip(bad_loss, bad_image)):
        if loss_bad:  # measured before the step's update: it comes first
            raise NumericalFault("loss", float(losses[index]), step=index + 1)
        if image_bad:
            raise NumericalFault("image", step=index + 1)


def checked_loss(loss: float, *, octave: int, step: int) -> float:
    """A measured loss, or NumericalFault if it is not finite (octave/step 1-based)."""
    if not math.isfinite(loss):
        raise NumericalFault("loss", loss, step=step, octave=octave)
    return loss
