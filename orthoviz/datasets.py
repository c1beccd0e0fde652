"""Real data sets, one reader each, shared by every algorithm package.

- scikit-learn's 8x8 digits (ships offline);
- CIFAR-10, the "python version" batches (``data_batch_1..5``, optionally inside
  ``cifar-10-batches-py/``), read by a restricted unpickler;
- EMNIST letters, the idx files (``emnist-letters-train-{images,labels}-...[.gz]``).

Nothing is downloaded. Every reader returns ``X`` (N, d) float64 in [0, 1] and integer
labels ``y`` (N,); the packages scale and relabel from there.

Safety: ``data_dir`` can come from a link or a widget, so it is untrusted.

- The CIFAR batches are pickles. :class:`_BatchUnpickler` admits only the batch
  structure (dicts with bytes/str keys, lists, ints, strings, bytes and plain numpy
  arrays), so a planted pickle cannot run code: anything else is refused before it is
  built.
- When ``ORTHOVIZ_DATA_ROOT`` is set (``orthoviz serve`` always sets it, from
  ``--data-root``), ``data_dir`` must resolve, symlinks followed, to a folder inside
  it; relative paths are taken from the root. Anything else is a ConfigError naming
  the parameter.
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
from pathlib import Path

import numpy as np

from orthoviz.runtime.errors import ConfigError
from orthoviz.runtime.pathtext import looked_up, path_text

#: environment variable holding the only folder the served app may read data from
DATA_ROOT_ENV = "ORTHOVIZ_DATA_ROOT"
#: the folder ``data_dir=""`` means where no root is set
DEFAULT_DATA_DIR = "data"
#: largest file a reader accepts (a CIFAR-10 batch is 31 MB, EMNIST letters 70 MB)
MAX_FILE_BYTES = 256 * 2**20
CIFAR_FILES = "data_batch_1 ... data_batch_5"


def data_root() -> Path | None:
    """The data root set by whoever runs the server, or None (library and CLI use)."""
    root = os.environ.get(DATA_ROOT_ENV, "").strip()
    return Path(root).expanduser().resolve() if root else None


def data_folder(data_dir: str | os.PathLike | None, parameter: str = "data_dir") -> Path:
    """The folder ``data_dir`` names, checked against the data root.

    Without a root: ``data_dir`` as given (empty means ``./data``). With a root:
    relative paths (and empty) are taken from the root, and the resolved folder must
    lie inside it, else :class:`ConfigError` naming ``parameter``.
    """
    text = path_text("" if data_dir is None else str(data_dir), parameter, "a folder path")
    root = data_root()
    if root is None:
        return looked_up(Path(text or DEFAULT_DATA_DIR).expanduser(), parameter, text,
                         "a folder path")
    path = Path(text).expanduser() if text else root
    real = looked_up(path if path.is_absolute() else root / path, parameter, text,
                     "a folder path").resolve()
    if real != root and root not in real.parents:
        raise ConfigError(parameter, text, f"a folder inside the data root {root}",
                          f"this server reads data only under {DATA_ROOT_ENV}")
    return real


def _missing(name: str, data_dir, expected: str, parameter: str) -> ConfigError:
    return ConfigError(parameter, str(data_dir), f"a folder holding {expected}",
                       f"{name} not found there. orthoviz never downloads data; place "
                       "the files there or choose the digits data set")


def _damaged(path: Path, what: str, parameter: str, data_dir) -> ConfigError:
    return ConfigError(parameter, str(data_dir), "a folder of intact data files",
                       f"{path.name}: {what}")


def _read(path: Path, parameter: str, data_dir) -> bytes:
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise _damaged(path, f"{size} bytes, more than a data file of this kind holds",
                       parameter, data_dir)
    return path.read_bytes()


# -- digits ---------------------------------------------------------------------------
def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits: X (1797, 64) in [0, 1] (pixel / 16), y in 0..9."""
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits()
    return d.data.astype(np.float64) / 16.0, d.target.astype(np.int64)


# -- CIFAR-10 -------------------------------------------------------------------------
#: the only globals a CIFAR batch pickle may name: how numpy rebuilds a plain array
#: or scalar from a dtype and raw bytes (they call nothing else)
_ARRAY_GLOBALS = {("numpy", "ndarray"), ("numpy", "dtype")} | {
    (m, n) for m in ("numpy.core.multiarray", "numpy._core.multiarray")
    for n in ("_reconstruct", "scalar")}


def _latin1(text: str, encoding: str = "latin1", errors: str = "strict") -> bytes:
    """What protocol-2 pickles written by Python 3 call to rebuild ``bytes``
    (``_codecs.encode(text, "latin1")``), and nothing else."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise pickle.UnpicklingError("refused _codecs.encode with another encoding")
    return text.encode("latin1")


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles only data: every global except numpy's array rebuilders (and the
    latin-1 bytes rebuilder) is refused, so no pickle can call ``os.system`` or any
    other function while loading."""

    def find_class(self, module: str, name: str):
        if (module, name) in _ARRAY_GLOBALS:
            return super().find_class(module, name)
        if (module, name) == ("_codecs", "encode"):
            return _latin1
        raise pickle.UnpicklingError(f"refused global {module}.{name}")


def _plain(obj, depth: int = 0) -> bool:
    """True for the CIFAR batch structure: dicts with bytes/str keys, lists, ints,
    strings, bytes and numpy arrays or scalars of numbers or bytes (no objects)."""
    if depth > 4:
        return False
    if isinstance(obj, dict):
        return all(isinstance(k, bytes | str) and _plain(v, depth + 1) for k, v in obj.items())
    if isinstance(obj, list):
        return all(_plain(v, depth + 1) for v in obj)
    if isinstance(obj, np.ndarray | np.generic):
        return obj.dtype.kind in "biufS" and type(obj) in (np.ndarray, type(obj.dtype.type()))
    return isinstance(obj, int | str | bytes) and not isinstance(obj, bool)


def read_cifar_batch(path: Path, parameter: str = "data_dir", data_dir=None) -> dict:
    """One CIFAR-10 batch file as a dict with str keys, without running any code."""
    data_dir = path.parent if data_dir is None else data_dir
    raw = _read(path, parameter, data_dir)
    try:
        batch = _BatchUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except pickle.UnpicklingError as e:
        raise _damaged(path, f"not a CIFAR-10 batch ({e})", parameter, data_dir) from None
    except Exception as e:  # truncated or garbage: any error of the pickle machine
        raise _damaged(path, f"unreadable ({type(e).__name__})", parameter,
                       data_dir) from None
    if not isinstance(batch, dict) or not _plain(batch):
        raise _damaged(path, "not a CIFAR-10 batch (unexpected contents)", parameter,
                       data_dir)
    out = {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in batch.items()}
    data, labels = out.get("data"), out.get("labels")
    if not isinstance(data, np.ndarray) or data.ndim != 2 or data.shape[1] != 3072 \
            or not isinstance(labels, list) or len(labels) != data.shape[0]:
        raise _damaged(path, "not a CIFAR-10 batch (needs data (N, 3072) and N labels)",
                       parameter, data_dir)
    return out


def load_cifar10(data_dir, max_points: int | None = None,
                 parameter: str = "data_dir") -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10 training batches in ``data_dir`` (or its ``cifar-10-batches-py/``):
    X (N, 3072) in [0, 1], y (N,) in 0..9. Stops after ``max_points`` images."""
    root = data_folder(data_dir, parameter)
    if (root / "cifar-10-batches-py").is_dir():
        root = root / "cifar-10-batches-py"
    files = [root / f"data_batch_{j}" for j in range(1, 6) if (root / f"data_batch_{j}").is_file()]
    if not files:
        raise _missing("CIFAR-10", data_dir, CIFAR_FILES, parameter)
    xs, ys = [], []
    for f in files:
        batch = read_cifar_batch(f, parameter, data_dir)
        xs.append(np.asarray(batch["data"], dtype=np.float64) / 255.0)
        ys.append(np.asarray(batch["labels"], dtype=np.int64))
        if max_points and sum(len(y) for y in ys) >= max_points:
            break
    X, y = np.concatenate(xs)[:max_points], np.concatenate(ys)[:max_points]
    if y.size and (y.min() < 0 or y.max() > 9):
        raise _damaged(files[0], "labels outside 0..9", parameter, data_dir)
    return X, y


# -- EMNIST letters -------------------------------------------------------------------
EMNIST_STEM = "emnist-letters-train-{}-idx{}-ubyte"


def read_idx(path: Path, ndim: int, parameter: str = "data_dir", data_dir=None) -> np.ndarray:
    """An idx file of unsigned bytes (gzipped or not), header checked."""
    data_dir = path.parent if data_dir is None else data_dir
    raw = _read(path, parameter, data_dir)
    try:
        data = gzip.decompress(raw) if path.suffix == ".gz" else raw
    except (OSError, EOFError, ValueError) as e:
        raise _damaged(path, f"bad gzip ({type(e).__name__})", parameter, data_dir) from None
    if len(data) < 4 + 4 * ndim or data[:3] != b"\x00\x00\x08" or data[3] != ndim:
        raise _damaged(path, f"not an idx{ndim} file of unsigned bytes", parameter, data_dir)
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    offset = 4 + 4 * ndim
    if len(data) - offset != int(np.prod(shape)):
        raise _damaged(path, f"{len(data) - offset} bytes of data for shape {shape} "
                       "(truncated?)", parameter, data_dir)
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(shape)


def load_emnist_letters(data_dir, parameter: str = "data_dir") -> tuple[np.ndarray, np.ndarray]:
    """EMNIST letters: X (N, 784) in [0, 1], y (N,) in 0..25 (the files say 1..26)."""
    root = data_folder(data_dir, parameter)
    paths = []
    for kind, nd in (("images", 3), ("labels", 1)):
        cands = [root / (EMNIST_STEM.format(kind, nd) + s) for s in ("", ".gz")]
        found = [p for p in cands if p.is_file()]
        if not found:
            raise _missing("EMNIST letters", data_dir, cands[0].name + "[.gz]", parameter)
        paths.append(found[0])
    images = read_idx(paths[0], 3, parameter, data_dir)
    labels = read_idx(paths[1], 1, parameter, data_dir)
    if images.shape[1:] != (28, 28) or len(images) != len(labels):
        raise _damaged(paths[0], f"shape {images.shape} for {len(labels)} labels",
                       parameter, data_dir)
    return images.reshape(-1, 28 * 28).astype(np.float64) / 255.0, \
        labels.astype(np.int64) - 1


# -- by name --------------------------------------------------------------------------
LOCAL = {"cifar10": CIFAR_FILES, "emnist": EMNIST_STEM.format("{images,labels}", "N")}


def check_data(name: str, data_dir, parameter: str = "data_dir") -> None:
    """Cheap validation (no reading): the folder is allowed and holds the files."""
    if name not in LOCAL:
        return
    root = data_folder(data_dir, parameter)
    if name == "cifar10":
        sub = root / "cifar-10-batches-py"
        folder = sub if sub.is_dir() else root
        if not (folder / "data_batch_1").is_file():
            raise _missing("CIFAR-10", data_dir, CIFAR_FILES, parameter)
    else:
        for kind, nd in (("images", 3), ("labels", 1)):
            stem = EMNIST_STEM.format(kind, nd)
            if not any((root / (stem + s)).is_file() for s in ("", ".gz")):
                raise _missing("EMNIST letters", data_dir, stem + "[.gz]", parameter)


def load_dataset(name: str, data_dir="", max_points: int | None = None,
                 parameter: str = "data_dir") -> tuple[np.ndarray, np.ndarray]:
    """``(X, y)`` by name: ``digits`` (offline), ``cifar10``, ``emnist`` (local folder)."""
    if name == "digits":
        X, y = load_digits()
        return X[:max_points], y[:max_points]
    if name == "cifar10":
        return load_cifar10(data_dir, max_points, parameter)
    if name == "emnist":
        X, y = load_emnist_letters(data_dir, parameter)
        return X[:max_points], y[:max_points]
    raise ConfigError("dataset", name, "digits, cifar10 or emnist")
