"""Morph mode: photos held while the dream grows on them, each fading into the next.

Three small generated photos of different sizes and aspects: a sideways-stored JPEG with an
EXIF orientation, a PNG with alpha, a square PNG. The test's own expectations of what the
photos look like at the frame size are made with PIL and numpy here, not with the mode's code.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from helpers import decode_frames, differing_frames, frame_bytes
from PIL import Image

from renderer.cli.main import main
from renderer.rendering.frame_loop import render_frames
from renderer.rendering.identity import render_identity
from renderer.rendering.modes.morph import morph_frame_count, photo_at
from renderer.rendering.spec import load_spec
from renderer.runtime.errors import DreamreelError
from renderer.store.frame_store import FrameStore

HOLD, FADE = 2, 2
COUNT = 3 * HOLD + 2 * FADE
HEIGHT, WIDTH = 48, 64  # the first photo's upright size: the frames'
SMALL = [
    f"morph.hold={HOLD}",
    f"morph.fade={FADE}",
    "dream.steps=2",
    "dream.octaves=1",
    "morph.first_steps=3",
    "morph.first_octaves=1",
    "output.gif=false",
    "fps=8",
    "output.hold_last=0",
    "width=",
]  # width unset: the first photo gives the size
NAMES = ["photo1.jpg", "photo2.png", "photo10.png"]  # natural order: 10 after 2


def stripes(height, width, axis, colours, period=12):
    """Stripes across ``axis`` (0: horizontal bands, 1: vertical ones) in two colours."""
    coords = np.indices((height, width))[axis]
    image = np.empty((height, width, 3), np.uint8)
    image[:] = colours[0]
    image[(coords // (period // 2)) % 2 == 1] = colours[1]
    return image


def upright_photos() -> list[np.ndarray]:
    """The three photos as shown (EXIF applied, alpha on white), RGB uint8."""
    first = stripes(48, 64, 0, [(230, 40, 40), (30, 30, 200)])  # horizontal bands
    second = stripes(64, 48, 1, [(40, 200, 60), (200, 40, 200)])  # vertical bands
    second[:, :8] = 255  # transparent: white
    rows, cols = np.indices((56, 56))
    third = np.full((56, 56, 3), (20, 20, 60), np.uint8)  # a disc
    third[(rows - 28) ** 2 + (cols - 28) ** 2 < 18**2] = (250, 230, 30)
    return [first, second, third]


def write_photos(folder):
    folder.mkdir(exist_ok=True)
    first, second, third = upright_photos()
    # Stored turned a quarter left, EXIF 6 says "turn right to show": 48 wide, 64 tall.
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(np.rot90(first, 1)).save(folder / NAMES[0], quality=95, exif=exif)
    rgba = np.dstack([second, np.full(second.shape[:2], 255, np.uint8)])
    rgba[:, :8] = (0, 0, 0, 0)  # fully transparent: the white background shows
    Image.fromarray(rgba, "RGBA").save(folder / NAMES[1])
    assert cv2.imwrite(str(folder / NAMES[2]), third[..., ::-1])
    (folder / "notes.txt").write_text("not a photo: ignored by its suffix")
    return [folder / name for name in NAMES]


def fitted(photo: np.ndarray) -> np.ndarray:
    """Centre-crop to cover HEIGHT x WIDTH, written independently of the mode's code."""
    rows, cols = photo.shape[:2]
    scale = max(HEIGHT / rows, WIDTH / cols)
    size = (max(WIDTH, round(cols * scale)), max(HEIGHT, round(rows * scale)))
    big = np.asarray(Image.fromarray(photo).resize(size, Image.BICUBIC), np.float32)
    top, left = (size[1] - HEIGHT) // 2, (size[0] - WIDTH) // 2
    return big[top : top + HEIGHT, left : left + WIDTH]


def correlation(a, b) -> float:
    a, b = np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64)
    return float(np.corrcoef(a, b)[0, 1])


def frames_of(out, count=COUNT):
    return [
        np.asarray(Image.open(out / "frames" / f"{i:06d}.png").convert("RGB"), np.float32)
        for i in range(1, count + 1)
    ]


def spec_for(folder, *extra):
    return load_spec("morph", [*SMALL, *extra], input=str(folder))


@pytest.fixture(scope="module")
def dogs(embedded_cache):
    from renderer.models.loading import load_dream_model

    return load_dream_model("mobilenet_v2_dogs")


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return write_photos(tmp_path_factory.mktemp("photos") / "photos")


@pytest.fixture(scope="module")
def whole(dogs, photos, tmp_path_factory):
    out = tmp_path_factory.mktemp("whole")
    result = render_frames(spec_for(photos[0].parent), dogs, out)
    return out, result


def test_the_plan_holds_each_photo_and_ramps_smoothly_between():
    assert morph_frame_count(3, HOLD, FADE) == COUNT and morph_frame_count(1, 5, 9) == 5
    plan = [photo_at(i, HOLD, FADE) for i in range(COUNT)]
    assert [k for k, _ in plan] == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2]
    shares = [share for _, share in plan]
    assert shares[:2] == [0, 0] and shares[4:6] == [0, 0] and shares[8:] == [0, 0]
    long = [photo_at(i, 1, 9)[1] for i in range(1, 10)]
    assert all(0 < a < b < 1 for a, b in zip(long, long[1:]))
    assert long[1] - long[0] < long[4] - long[3]  # eases in: slow start, fast middle


def test_frame_count_is_exact_and_the_mp4_holds_them(whole):
    out, result = whole
    assert result.frames == result.rendered == COUNT
    assert len(list((out / "frames").glob("*.png"))) == COUNT
    assert all(f.shape == (HEIGHT, WIDTH, 3) for f in decode_frames(out / "morph.mp4"))
    assert len(decode_frames(out / "morph.mp4")) == COUNT
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["size"] == [WIDTH, HEIGHT]
    assert [p.rsplit("/", 1)[-1] for p in manifest["photos"]] == NAMES
    assert manifest["input_identity"]["photos"] == 3


def test_held_frames_are_pulled_to_their_own_photo(whole):
    out, _ = whole
    targets = [fitted(p) for p in upright_photos()]
    frames = frames_of(out)
    for index, frame in enumerate(frames):
        k, share = photo_at(index, HOLD, FADE)
        if share:
            continue
        own = correlation(frame, targets[k])
        others = [correlation(frame, targets[j]) for j in range(3) if j != k]
        assert own > 0.8 and own > max(others) + 0.5, (index, own, others)


def test_fade_frames_move_monotonically_from_one_photo_to_the_next(whole):
    """Each frame's position on the line from photo k to photo k+1 (its least-squares
    coefficient) rises from the last held frame of k through the fade to the first of k+1."""
    out, _ = whole
    targets = [fitted(p) for p in upright_photos()]
    frames = frames_of(out)
    for k in range(2):
        a, b = targets[k], targets[k + 1]
        first = k * (HOLD + FADE) + HOLD - 1
        along = [
            float(((f - a) * (b - a)).sum() / ((b - a) ** 2).sum())
            for f in frames[first : first + FADE + 2]
        ]
        assert all(x < y for x, y in zip(along, along[1:])), along
        assert along[0] < 0.2 and along[-1] > 0.8, along


@pytest.mark.parametrize("where", ["progress", "between_png_and_row"])
def test_a_killed_render_resumes_to_the_same_frames_and_mp4(
    dogs, photos, whole, tmp_path, monkeypatch, where
):
    reference, _ = whole
    spec = spec_for(photos[0].parent)
    if where == "progress":  # stopped after frame 3 is stored: frame 4 is a fade frame

        def stop(done, total, loss):
            if done == 3:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            render_frames(spec, dogs, tmp_path, progress=stop)
    else:  # the kill lands after frame 6's PNG, before its losses.csv row
        append = FrameStore._append

        def killed(store, line):
            if line.startswith("6,"):
                raise KeyboardInterrupt
            append(store, line)

        monkeypatch.setattr(FrameStore, "_append", killed)
        with pytest.raises(KeyboardInterrupt):
            render_frames(spec, dogs, tmp_path)
        monkeypatch.undo()
        assert (tmp_path / "frames" / "000006.png").is_file()
    result = render_frames(spec, dogs, tmp_path)
    assert 0 < result.rendered < COUNT
    assert differing_frames(frame_bytes(tmp_path), frame_bytes(reference)) == []
    assert (tmp_path / "morph.mp4").read_bytes() == (reference / "morph.mp4").read_bytes()


def test_colour_coherence_resumes_identically_and_holds_frame_zeros_colours(dogs, photos, tmp_path):
    spec = spec_for(photos[0].parent, "morph.color_coherence=true", "pipeline=false")
    render_frames(spec, dogs, tmp_path / "whole")

    def stop(done, total, loss):
        if done == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        render_frames(spec, dogs, tmp_path / "resumed", progress=stop)
    render_frames(spec, dogs, tmp_path / "resumed")  # frame 0's colours read back
    assert frame_bytes(tmp_path / "resumed") == frame_bytes(tmp_path / "whole")
    first, last = frames_of(tmp_path / "whole")[0], frames_of(tmp_path / "whole")[-1]
    disc = fitted(upright_photos()[2])  # yellow on dark blue: nothing like frame 0's colours
    assert (
        np.abs(last.mean((0, 1)) - first.mean((0, 1))).max()
        < 0.5 * np.abs(disc.mean((0, 1)) - first.mean((0, 1))).max()
    )


def test_the_camera_moves_the_carried_dream(dogs, photos, tmp_path):
    """One photo (a file as --input), a strong zoom: each frame's dream (frame - photo)
    matches the last frame's dream zoomed, not the last frame's dream as it was."""
    spec = load_spec(
        "morph", [*SMALL, "morph.hold=4", "morph.scale=1.3", "morph.blend=1"], input=str(photos[2])
    )
    render_frames(spec, dogs, tmp_path)
    photo = upright_photos()[2].astype(np.float32)  # 56 x 56: the frames keep its size
    dreams = [f - photo for f in frames_of(tmp_path, 4)]
    side, crop = 56, round(56 / 1.3)
    lo = (side - crop) // 2
    for before, after in zip(dreams, dreams[1:]):
        zoomed = cv2.resize(
            before[lo : lo + crop, lo : lo + crop], (side, side), interpolation=cv2.INTER_CUBIC
        )
        assert correlation(after, zoomed) > max(0.3, correlation(after, before) + 0.2)
    strength = [float(np.abs(d).mean()) for d in dreams[1:]]
    assert strength == sorted(strength)  # blend 1 keeps it all: the dream grows on the photo


def test_blend_below_one_fades_the_carried_dream_toward_the_photo(dogs, photos, tmp_path):
    """No steps after frame 0 and a still camera: each frame is its photo plus 0.7 of the
    last frame's dream (blend 0.7), so the dream fades by 0.7 every frame."""
    spec = load_spec(
        "morph",
        [*SMALL, "morph.hold=4", "morph.blend=0.7", "dream.steps=0"],
        input=str(photos[2]),
    )
    render_frames(spec, dogs, tmp_path)
    photo = upright_photos()[2].astype(np.float32)
    dreams = [frame - photo for frame in frames_of(tmp_path, 4)]
    assert np.abs(dreams[0]).mean() > 4  # frame 0 is dreamed: there is a dream to fade
    for before, after in zip(dreams, dreams[1:]):
        # the same dream, fainter (uint8 rounding and the warp's resampling aside)
        assert np.abs(after - 0.7 * before).mean() < 1.2
        assert np.abs(after).mean() / np.abs(before).mean() == pytest.approx(0.7, abs=0.06)


def test_a_list_of_photos_gives_the_folders_frames(dogs, photos, whole, tmp_path, monkeypatch):
    reference, _ = whole
    monkeypatch.chdir(photos[0].parent)  # relative names are made absolute when loaded
    spec = load_spec("morph", [*SMALL, f"morph.images={json.dumps(NAMES)}"])
    assert spec.morph.images == tuple(str(p) for p in photos)
    render_frames(spec, dogs, tmp_path / "list")
    assert frame_bytes(tmp_path / "list") == frame_bytes(reference)


def test_changed_photos_refuse_to_resume(dogs, tmp_path):
    folder = tmp_path / "photos"
    paths = write_photos(folder)
    spec = spec_for(folder, "morph.hold=1", "morph.fade=0")
    render_frames(spec, dogs, tmp_path / "out")
    image = np.asarray(Image.open(paths[2]))
    Image.fromarray(255 - image).save(paths[2])  # same name, other picture
    with pytest.raises(DreamreelError, match="input changed"):
        render_frames(spec, dogs, tmp_path / "out")


def error_line(capsys, *argv, status=2) -> str:
    assert main(["render", *argv, "--dry-run"]) == status
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1, err
    return err


def test_bad_photos_are_refused_in_one_line_naming_them(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no photos here")
    assert "no photos in" in error_line(capsys, "morph", "--input", str(empty))

    folder = tmp_path / "photos"
    write_photos(folder)
    (folder / "photo3.png").write_text("a text file in disguise")
    assert "photo3.png" in error_line(capsys, "morph", "--input", str(folder), status=4)

    missing = ["--set", f'morph.images=["{folder / NAMES[0]}", "{tmp_path / "gone.jpg"}"]']
    assert "gone.jpg" in error_line(capsys, "morph", *missing)

    assert "photo2.png" in error_line(
        capsys, "morph", "--input", str(folder / NAMES[1]), "--set", "max_input_pixels=3000"
    )
    assert "morph.images" in error_line(capsys, "morph")  # no photos given at all


def test_bad_photos_are_refused_before_tensorflow_loads(tmp_path):
    from helpers import run_without_tensorflow_probe

    folder = tmp_path / "photos"
    write_photos(folder)
    (folder / "photo3.png").write_text("a text file in disguise")
    result, _, err = run_without_tensorflow_probe(
        "render", "morph", "--input", str(folder), cwd=tmp_path
    )
    assert result == {"code": 4, "tensorflow": False, "keras": False}  # not an image: exit 4
    assert "photo3.png" in err and len(err.splitlines()) == 1


def test_the_preset_dry_runs_with_a_folder_and_reads_back(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_photos(tmp_path / "photos")
    assert main(["render", "morph", "--input", "photos", "--dry-run"]) == 0
    text = capsys.readouterr().out
    (tmp_path / "again.toml").write_text(text)
    again = load_spec(str(tmp_path / "again.toml"))
    assert again.to_dict() | {"name": "morph"} == load_spec("morph", input="photos").to_dict()
    assert again.input == str(tmp_path / "photos") and again.morph.hold == 16


def test_identity_follows_what_decides_pixels(photos):
    base = spec_for(photos[0].parent)
    assert render_identity(base) == render_identity(
        spec_for(photos[0].parent, "frames=7", "zoom.scale=2")
    )
    for change in (
        "morph.hold=3",
        "morph.fade=1",
        'morph.scale="0:(1), 9:(1.1)"',
        "morph.blend=0.5",
        "morph.color_coherence=true",
    ):
        assert render_identity(spec_for(photos[0].parent, change)) != render_identity(base)
    # morph's own table never reaches another mode's identity (their renders resume)
    zoom = load_spec("noise-zoom")
    assert render_identity(zoom) == render_identity(load_spec("noise-zoom", ["morph.hold=5"]))
