"""Write samples/pan.mp4: a 2 s synthetic clip (a slow pan and push-in across
samples/astronaut.jpg) for the README's dreamed-video example, samples/video-quick.gif.

48 frames of 256x144 at 24 fps, H.264 via PyAV: each frame is a 16:9 window that slides
from the photo's left to its right while it narrows from 384 to 320 px, resampled with
OpenCV (Lanczos). Nothing but the public-domain photo goes in.
Run: python samples/make_clip.py [OUT]   (then: dreamreel render video-quick -i OUT)
"""

from __future__ import annotations

import sys
from fractions import Fraction

import av
import cv2
import numpy as np

FPS = 24
FRAMES = 48
WIDTH, HEIGHT = 256, 144


def smoothstep(u: float) -> float:
    return u * u * (3 - 2 * u)


def pan_frames(photo: np.ndarray, frames: int = FRAMES) -> list[np.ndarray]:
    """The clip's pictures, RGB uint8: a window that pans left to right and pushes in."""
    height, width = photo.shape[:2]
    pictures = []
    for k in range(frames):
        u = smoothstep(k / (frames - 1))
        crop_w = 384 - 64 * u
        crop_h = crop_w * HEIGHT / WIDTH
        left = (width - crop_w) * (0.05 + 0.9 * u)
        top = (height - crop_h) * 0.35
        # One affine map from the window to the output: sub-pixel motion, no jitter.
        sx, sy = WIDTH / crop_w, HEIGHT / crop_h
        matrix = np.array([[sx, 0, -left * sx], [0, sy, -top * sy]], dtype=np.float64)
        pictures.append(
            cv2.warpAffine(
                photo,
                matrix,
                (WIDTH, HEIGHT),
                flags=cv2.INTER_LANCZOS4,
                borderMode=cv2.BORDER_REFLECT,
            )
        )
    return pictures


def write_mp4(path: str, pictures: list[np.ndarray], fps: int = FPS) -> None:
    with av.open(path, "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"crf": "18"}
        for picture in pictures:
            for packet in stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


if __name__ == "__main__":
    photo = cv2.cvtColor(cv2.imread("samples/astronaut.jpg"), cv2.COLOR_BGR2RGB)
    write_mp4(sys.argv[1] if len(sys.argv) > 1 else "samples/pan.mp4", pan_frames(photo))
