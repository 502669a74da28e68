"""The camera of a zoom (or a morph's dream) over many frames, as one move: ``dreamreel
preview`` shows frame i as the start picture warped once by every move up to frame i,
sharp however far the camera went (renderer/rendering/preview_path.py)."""

from __future__ import annotations

import math

import cv2
import numpy as np

from .modes.zoom import Motion, warp

# Past this the camera has zoomed a start pixel over the whole picture (or the whole
# start into a pixel): the picture is flat from there on, so the camera stops there.
FARTHEST_ZOOM = 1e8


class Camera:
    """The camera's moves composed: frame i's view of the start picture as one move.

    Each step's matrix is ``zoom.warp``'s (cv2.getRotationMatrix2D about the centre, less
    the translation); the composed matrix turns back into one Motion, so the picture is
    ``warp(start, camera.motion())``: the mode's own warp, once, not once a frame.
    """

    def __init__(self, height: int, width: int, pixel_scale: float):
        self.centre = ((width - 1) / 2.0, (height - 1) / 2.0)
        self.pixel_scale = pixel_scale  # preview pixels per render pixel (translations)
        self.matrix = np.eye(3)
        self.stopped = False  # the camera went past FARTHEST_ZOOM

    def move(self, motion: Motion) -> None:
        if self.stopped:
            return
        step = np.eye(3)
        step[:2] = cv2.getRotationMatrix2D(self.centre, motion.rotation, motion.scale)
        step[:2, 2] -= (
            motion.translate_x * self.pixel_scale,
            motion.translate_y * self.pixel_scale,
        )
        matrix = step @ self.matrix
        zoom = math.hypot(matrix[0, 0], matrix[0, 1])
        if not (1 / FARTHEST_ZOOM < zoom < FARTHEST_ZOOM):
            self.stopped = True
            return
        self.matrix = matrix

    def motion(self) -> Motion:
        """The composed moves as one Motion for ``warp``."""
        a, b = self.matrix[0, 0], self.matrix[0, 1]
        scale, rotation = math.hypot(a, b), math.degrees(math.atan2(b, a))
        centred = cv2.getRotationMatrix2D(self.centre, rotation, scale)
        shift = centred[:, 2] - self.matrix[:2, 2]
        return Motion(scale, rotation, float(shift[0]), float(shift[1]))

    def view(self, image: np.ndarray) -> np.ndarray:
        return warp(image, self.motion())
