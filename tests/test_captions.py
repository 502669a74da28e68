"""Behaviour of renderer.imaging.captions: a dark band, text that fits and reads at any size."""

import numpy as np
import pytest

from renderer.imaging.captions import caption, caption_font

TEXT = "octave 2/4  step 30  loss 1.234"


def gray_image(width, height=None, value=100):
    return np.full((height or width * 3 // 4, width, 3), value, np.uint8)


def text_pixels(width, text=TEXT):
    """(row, col) of pixels brighter than the dark background: glyphs, anti-aliasing too."""
    image = gray_image(width, value=30)
    captioned = caption(image, text)
    return captioned, np.argwhere(captioned.max(axis=2) > 30)


@pytest.mark.parametrize("where", ["bottom", "top"])
def test_caption_changes_only_a_full_width_band(where):
    image = gray_image(320)
    captioned = caption(image, TEXT, where=where)

    changed_rows = np.flatnonzero((captioned != image).any(axis=(1, 2)))
    band = np.arange(changed_rows.min(), changed_rows.max() + 1)
    assert (changed_rows == band).all()  # one contiguous band
    edge_row = image.shape[0] - 1 if where == "bottom" else 0
    assert edge_row in (band[0], band[-1])
    assert len(band) < image.shape[0] // 2
    assert (captioned[band][:, :2] < 100).all()  # darkened across the full width
    assert (image == 100).all()  # the input is not modified


@pytest.mark.parametrize("width", [64, 128, 200, 640, 1920])
def test_caption_text_stays_inside_the_image(width):
    captioned, text = text_pixels(width)
    assert len(text) > 0
    rows, cols = text[:, 0], text[:, 1]
    assert cols.min() > 0 and cols.max() < width - 1  # no glyph touches a side
    assert rows.max() < captioned.shape[0] - 1


def test_caption_size_follows_width_and_stays_readable_when_small():
    def text_height(width):
        rows = text_pixels(width, "step 30")[1][:, 0]
        return rows.max() - rows.min() + 1

    assert text_height(128) >= 9  # never shrunk below legible ...
    text_rows = np.unique(text_pixels(128)[1][:, 0])
    assert (np.diff(text_rows) > 1).any()  # ... the long caption wraps to two lines instead
    assert text_height(1920) > 3 * text_height(256)


def test_text_is_white_inside_the_band_and_rows_stay_ordered():
    image = gray_image(400)
    captioned = caption(image, "first line\nsecond line", where="top")
    changed = np.flatnonzero((captioned != image).any(axis=(1, 2)))
    assert changed[0] == 0 and changed[-1] < image.shape[0] // 2
    bright = np.argwhere(captioned.min(axis=2) > 200)  # white glyph cores
    assert len(bright) > 0 and bright[:, 0].max() <= changed[-1]
    rows = np.unique(bright[:, 0])
    assert (np.diff(rows) > 1).any()  # the newline made two lines


def test_only_a_word_too_wide_for_the_image_shrinks_the_text():
    def glyph_height(text):
        rows = np.argwhere(caption(gray_image(160, 200, value=0), text).max(axis=2) > 0)
        band = rows[:, 0]
        return band.max() - band.min() + 1, rows[:, 1]

    wrapped, _ = glyph_height("step  step  step  step  step  step")
    single, _ = glyph_height("step")
    assert wrapped > 2 * single  # many short fields wrap onto lines at full size
    long_word, cols = glyph_height("Ohhh" * 12)
    assert long_word < single  # one word wider than the image: smaller, on one line
    assert cols.min() > 0 and cols.max() < 159  # and still inside


def test_tiny_image_does_not_hang_or_raise():
    out = caption(gray_image(12, 6), "octave 2/4  step 30  loss 1.234")
    assert out.shape == (6, 12, 3)


def test_zero_is_an_open_ring_not_slashed_or_dotted():
    font = caption_font(200)
    left, top, right, bottom = font.getbbox("0", anchor="lt")
    from PIL import Image, ImageDraw

    canvas = Image.new("L", (right + 10, bottom + 10), 0)
    ImageDraw.Draw(canvas).text((0, 0), "0", font=font, fill=255, anchor="lt")
    ink = np.asarray(canvas)[top:bottom, left:right] > 128
    h, w = ink.shape
    middle = ink[h // 4 : 3 * h // 4, w // 3 : 2 * w // 3]
    assert not middle.any()  # nothing crosses the counter: no slash, no dot
    assert ink[h // 2, : w // 3].any() and ink[h // 2, 2 * w // 3 :].any()  # the two sides
