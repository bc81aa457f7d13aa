"""Data sets, splits and mini-batches for chainrule's neural-network toolkit (``cr.data``).

Pure NumPy; scikit-learn only for the ``digits`` data set. Nothing here
imports the autodiff engine.

>>> import chainrule.data as crdata
>>> data = crdata.load("digits")
>>> x_train, x_val, y_train, y_val = crdata.train_test_split(*data.train, test_size=0.25)
>>> for x_batch, y_batch in crdata.Batches(x_train, y_train, batch_size=128, seed=0):
...     pass
>>> x_batch.shape[1], len(x_train) + len(x_val) == len(data.x_train)
(64, True)
"""

from .batching import Batches, batch_indices, iterate_minibatches
from .datasets import (
    DATASETS,
    SOURCES,
    Dataset,
    DatasetNotFoundError,
    IdxSource,
    default_cache_dir,
    digits,
    fashion_mnist,
    load,
    load_idx_dataset,
    mnist,
)
from .download import ChecksumError, DownloadError, download_file, sha256_of
from .idx import read_idx, write_idx
from .labels import class_ids, one_hot
from .splits import kfold, split_indices, train_test_split, train_val_test_split

__all__ = [
    "DATASETS",
    "SOURCES",
    "Batches",
    "ChecksumError",
    "Dataset",
    "DatasetNotFoundError",
    "DownloadError",
    "IdxSource",
    "batch_indices",
    "class_ids",
    "default_cache_dir",
    "digits",
    "download_file",
    "fashion_mnist",
    "iterate_minibatches",
    "kfold",
    "load",
    "load_idx_dataset",
    "mnist",
    "one_hot",
    "read_idx",
    "sha256_of",
    "split_indices",
    "train_test_split",
    "train_val_test_split",
    "write_idx",
]
