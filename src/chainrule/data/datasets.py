"""The data sets chainrule trains on: digits, MNIST and Fashion-MNIST.

Every loader returns a :class:`Dataset`: inputs as float32 in [0, 1], one row
per sample (``flatten=True``, the default) or one 2-D image per sample
(``flatten=False``); labels as int64 class ids.

- ``digits``: scikit-learn's 1,797 8x8 digits, offline, split here into train
  and test (stratified, seeded).
- ``mnist`` and ``fashion_mnist``: the four standard IDX files, gzip or raw,
  from ``data_dir``; otherwise from the system copy (Fashion-MNIST: Debian's
  ``dataset-fashion-mnist`` in ``/usr/share/datasets/fashion-mnist``) or the
  cache (``~/.cache/chainrule/<name>``), downloading what is missing from the
  public mirrors and keeping a file only when its SHA-256 matches the one
  written below.

Files found on disk are checked for structure (IDX header, length, shapes,
label range), not against the download digests: Debian, for one, re-compresses
the originals, so its bytes differ while the arrays are the same.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .download import DownloadError, download_file
from .idx import read_idx
from .splits import train_test_split

__all__ = [
    "DATASETS",
    "SOURCES",
    "Dataset",
    "DatasetNotFoundError",
    "IdxSource",
    "default_cache_dir",
    "digits",
    "fashion_mnist",
    "load",
    "load_idx_dataset",
    "mnist",
]


@dataclass(frozen=True, repr=False)
class Dataset:
    """A classification data set split into train and test parts.

    ``x_train``/``x_test``: float inputs in [0, 1], shape ``(n, features)``
    (or ``(n, height, width)`` when loaded with ``flatten=False``).
    ``y_train``/``y_test``: int64 class ids in ``range(len(classes))``.
    ``classes``: human-readable class names, indexed by class id.

    >>> from chainrule.data import digits
    >>> data = digits()
    >>> data
    Dataset('digits', train=(1437, 64), test=(360, 64), classes=10)
    >>> x, y = data.train
    >>> x.dtype, y.dtype, float(x.max()) <= 1.0
    (dtype('float32'), dtype('int64'), True)
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: tuple[str, ...] = field(default=())

    @property
    def train(self) -> tuple[np.ndarray, np.ndarray]:
        """``(x_train, y_train)``."""
        return self.x_train, self.y_train

    @property
    def test(self) -> tuple[np.ndarray, np.ndarray]:
        """``(x_test, y_test)``."""
        return self.x_test, self.y_test

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one sample, e.g. ``(784,)`` or ``(28, 28)``."""
        return tuple(self.x_train.shape[1:])

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}, train={self.x_train.shape}, test={self.x_test.shape}, "
            f"classes={self.num_classes})"
        )


class DatasetNotFoundError(FileNotFoundError):
    """A data set's files are not on disk and could not be downloaded."""


@dataclass(frozen=True)
class IdxSource:
    """Where an IDX data set comes from: its four files, their digests, its mirrors."""

    name: str
    classes: tuple[str, ...]
    mirrors: tuple[str, ...]
    sha256: dict[str, str]  # file name (as served, .gz) -> hex digest of those bytes
    system_dirs: tuple[str, ...] = ()
    homepage: str = ""

    @property
    def files(self) -> tuple[str, ...]:
        """The four file names, train images first."""
        return tuple(self.sha256)


# Digests of the original gzip files as served by the mirrors. Each value was
# found identical in several independent public sources (TensorFlow Datasets'
# url_checksums for mnist and fashion_mnist among them); the byte sizes are
# 9912422, 28881, 1648877, 4542 (MNIST) and 26421880, 29515, 4422102, 5148
# (Fashion-MNIST).
SOURCES: dict[str, IdxSource] = {
    "mnist": IdxSource(
        name="mnist",
        classes=tuple(str(digit) for digit in range(10)),
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
        ),
        sha256={
            "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        },
        homepage="https://yann.lecun.com/exdb/mnist/",
    ),
    "fashion-mnist": IdxSource(
        name="fashion-mnist",
        classes=(
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        sha256={
            "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        },
        system_dirs=("/usr/share/datasets/fashion-mnist",),
        homepage="https://github.com/zalandoresearch/fashion-mnist",
    ),
}


def default_cache_dir(name: str) -> Path:
    """``$XDG_CACHE_HOME/chainrule/<name>``, by default ``~/.cache/chainrule/<name>``."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "chainrule" / name


def digits(
    test_size: float = 0.2, seed: int = 0, flatten: bool = True, dtype: type = np.float32
) -> Dataset:
    """scikit-learn's 8x8 handwritten digits (1,797 samples), split into train and test.

    Works offline (the data ships inside scikit-learn). Pixels 0..16 are
    scaled to [0, 1]; the split is stratified and reproducible from ``seed``.

    >>> data = digits(flatten=False)
    >>> data.input_shape, data.num_classes
    ((8, 8), 10)
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as error:
        raise ImportError(
            "digits: needs scikit-learn (pip install scikit-learn, or chainrule[data])"
        ) from error
    bunch = load_digits()
    images = (bunch.images / 16.0).astype(dtype)
    x = images.reshape(len(images), -1) if flatten else images
    y = bunch.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=test_size, seed=seed)
    classes = tuple(str(name) for name in bunch.target_names)
    return Dataset("digits", x_train, y_train, x_test, y_test, classes)


def mnist(
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    flatten: bool = True,
    dtype: type = np.float32,
) -> Dataset:
    """MNIST: 60,000 training and 10,000 test 28x28 handwritten digits.

    Files are looked for in ``data_dir`` (when given) and ``cache_dir``;
    missing ones are downloaded into ``cache_dir`` (default: ``data_dir`` when
    given, else ``~/.cache/chainrule/mnist``) and kept only when their SHA-256
    matches. With ``download=False``, or offline, a missing file raises
    :class:`DatasetNotFoundError` saying which file and where to put it.

    >>> import tempfile, numpy as np
    >>> from chainrule.data import write_idx
    >>> folder = tempfile.mkdtemp()
    >>> for part, n in (("train", 3), ("t10k", 2)):
    ...     _ = write_idx(f"{folder}/{part}-images-idx3-ubyte", np.zeros((n, 28, 28), np.uint8))
    ...     _ = write_idx(f"{folder}/{part}-labels-idx1-ubyte", np.arange(n, dtype=np.uint8))
    >>> mnist(folder, download=False)
    Dataset('mnist', train=(3, 784), test=(2, 784), classes=10)
    """
    return load_idx_dataset(SOURCES["mnist"], data_dir, download, cache_dir, flatten, dtype)


def fashion_mnist(
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    flatten: bool = True,
    dtype: type = np.float32,
) -> Dataset:
    """Fashion-MNIST: 60,000 + 10,000 28x28 images of 10 kinds of clothing.

    Same files, options and errors as :func:`mnist`. Without ``data_dir``,
    Debian's copy in ``/usr/share/datasets/fashion-mnist`` (package
    ``dataset-fashion-mnist``) is used when it is installed, then the cache
    ``~/.cache/chainrule/fashion-mnist``.

    >>> data = fashion_mnist()  # doctest: +SKIP
    >>> data.classes[:3], data.x_train.shape  # doctest: +SKIP
    (('T-shirt/top', 'Trouser', 'Pullover'), (60000, 784))
    """
    return load_idx_dataset(SOURCES["fashion-mnist"], data_dir, download, cache_dir, flatten, dtype)


def load_idx_dataset(
    source: IdxSource,
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    flatten: bool = True,
    dtype: type = np.float32,
) -> Dataset:
    """Load an MNIST-layout data set described by ``source`` (see :func:`mnist`)."""
    search, cache = _directories(source, data_dir, cache_dir)
    paths = [_locate(source, file_name, search, cache, download) for file_name in source.files]
    x_train, y_train = _images_and_labels(source, paths[0], paths[1], flatten, dtype)
    x_test, y_test = _images_and_labels(source, paths[2], paths[3], flatten, dtype)
    return Dataset(source.name, x_train, y_train, x_test, y_test, source.classes)


def _directories(
    source: IdxSource,
    data_dir: str | os.PathLike[str] | None,
    cache_dir: str | os.PathLike[str] | None,
) -> tuple[list[Path], Path]:
    """The directories to search, in order, and the one downloads go to."""
    if data_dir is not None:
        search = [Path(data_dir).expanduser()]
        cache = Path(cache_dir).expanduser() if cache_dir is not None else search[0]
    else:
        search = [Path(folder) for folder in source.system_dirs if Path(folder).is_dir()]
        cache = (
            Path(cache_dir).expanduser()
            if cache_dir is not None
            else default_cache_dir(source.name)
        )
    if cache not in search:
        search.append(cache)
    return search, cache


def _locate(
    source: IdxSource, file_name: str, search: Sequence[Path], cache: Path, download: bool
) -> Path:
    """Path of ``file_name`` (gzip or raw) in the first directory having it, downloading if allowed."""
    raw_name = file_name.removesuffix(".gz")
    for folder in search:
        for candidate in (folder / file_name, folder / raw_name):
            if candidate.is_file():
                return candidate
    if not download:
        raise DatasetNotFoundError(
            _missing_message(source, file_name, search, "downloading is off")
        )
    urls = [mirror + file_name for mirror in source.mirrors]
    try:
        return download_file(urls, cache / file_name, source.sha256[file_name])
    except DownloadError as error:
        raise DatasetNotFoundError(
            _missing_message(source, file_name, search, str(error))
        ) from error


def _missing_message(source: IdxSource, file_name: str, search: Sequence[Path], reason: str) -> str:
    looked = ", ".join(str(folder) for folder in search)
    files = ", ".join(source.files)
    return (
        f"{source.name}: {file_name} not found (looked in {looked}) and not downloaded "
        f"({reason}). Put the four files ({files}; gzip or uncompressed) in a directory and "
        f"pass it as data_dir=... (command line: --data-dir DIR), or copy them to "
        f"{search[-1]}. Mirrors: {', '.join(source.mirrors)}"
    )


def _images_and_labels(
    source: IdxSource, images_path: Path, labels_path: Path, flatten: bool, dtype: type
) -> tuple[np.ndarray, np.ndarray]:
    """Read one images/labels pair, check they belong together, scale and reshape."""
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(
            f"{source.name}: {images_path} should hold uint8 images of shape (n, height, width), "
            f"has {images.dtype} {images.shape}"
        )
    if labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(
            f"{source.name}: {labels_path} should hold {len(images)} labels (one per image in "
            f"{images_path.name}), has shape {labels.shape}"
        )
    if labels.size and int(labels.max()) >= len(source.classes):
        raise ValueError(
            f"{source.name}: {labels_path} holds label {int(labels.max())}, "
            f"but there are only {len(source.classes)} classes"
        )
    x = images.astype(dtype)
    x /= 255
    if flatten:
        x = x.reshape(len(x), -1)
    return x, labels.astype(np.int64)


Loader = Callable[..., Dataset]

#: Data set name -> loader. ``load`` also accepts "_" for "-" and any case.
DATASETS: dict[str, Loader] = {
    "digits": digits,
    "mnist": mnist,
    "fashion-mnist": fashion_mnist,
}


def load(name: str, data_dir: str | os.PathLike[str] | None = None, **options) -> Dataset:
    """Load a data set by name: ``"digits"``, ``"mnist"`` or ``"fashion-mnist"``.

    ``data_dir`` goes to the IDX loaders (digits ships in scikit-learn and
    ignores it); other keyword ``options`` go to the loader unchanged.

    >>> load("digits").name
    'digits'
    >>> load("cifar")
    Traceback (most recent call last):
    ...
    ValueError: load: unknown data set 'cifar'; known: digits, mnist, fashion-mnist
    """
    key = name.strip().lower().replace("_", "-")
    if key == "fashionmnist":
        key = "fashion-mnist"
    if key not in DATASETS:
        raise ValueError(f"load: unknown data set {name!r}; known: {', '.join(DATASETS)}")
    if key == "digits":
        return digits(**options)
    return DATASETS[key](data_dir, **options)
