"""Classification metrics (``cr.metrics``), computed like scikit-learn's.

Labels are integer class ids ``0 .. K-1``, or 2-D rows (one-hot labels or
predicted probabilities / scores), whose argmax is the class id. Everything is
derived from one confusion matrix (rows: true class, columns: predicted).

Which classes count. Per-class arrays (``average=None``) are indexed by class
id, with ``K = num_classes`` or, when that is not given, the largest id seen
plus one. Averages (``"macro"``, ``"weighted"``) run over all ``K`` classes
when ``num_classes`` is given, and otherwise over the classes that appear in
``y_true`` or ``y_pred``: both choices give scikit-learn's numbers (with
``labels=range(K)`` and with its default, respectively).

Zero division. Precision of a class never predicted, recall of a class
absent from ``y_true``, and F1 of a class absent from both are 0/0; they get
the value ``zero_division`` (default 0.0, the number scikit-learn returns
with its default warning; pass 1.0 or ``numpy.nan`` to choose otherwise). No
warning is printed. F1 is ``2 tp / (2 tp + fp + fn)``, the harmonic mean of
precision and recall wherever that is defined.

>>> from chainrule import metrics
>>> y_true, y_pred = [0, 1, 2, 2], [0, 2, 2, 2]
>>> metrics.accuracy(y_true, y_pred)
0.75
>>> metrics.confusion_matrix(y_true, y_pred).tolist()
[[1, 0, 0], [0, 0, 1], [0, 0, 2]]
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from .data.labels import class_ids

__all__ = [
    "PrecisionRecallF1",
    "accuracy",
    "classification_report",
    "confusion_matrix",
    "error_rate",
    "f1_score",
    "format_confusion_matrix",
    "precision",
    "precision_recall_f1_support",
    "recall",
]

AVERAGES = (None, "macro", "weighted", "micro")


def _label_pair(caller: str, y_true: ArrayLike, y_pred: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Both label arrays as int64 class ids of equal, non-zero length."""
    true_shape, pred_shape = np.shape(y_true), np.shape(y_pred)
    true = class_ids(y_true, caller=caller, name="y_true")
    pred = class_ids(y_pred, caller=caller, name="y_pred")
    if len(true) != len(pred):
        raise ValueError(
            f"{caller}: y_true and y_pred have different numbers of samples: "
            f"shapes {true_shape} and {pred_shape}"
        )
    if len(true) == 0:
        raise ValueError(f"{caller}: y_true and y_pred are empty")
    return true, pred


def _class_count(caller: str, true: np.ndarray, pred: np.ndarray, num_classes: int | None) -> int:
    """``num_classes`` checked against the labels, or the largest label plus one."""
    largest = int(max(true.max(), pred.max()))
    if num_classes is None:
        return largest + 1
    if largest >= num_classes:
        raise ValueError(f"{caller}: label {largest} is out of range for num_classes={num_classes}")
    return int(num_classes)


def _counts(
    caller: str, y_true: ArrayLike, y_pred: ArrayLike, num_classes: int | None
) -> np.ndarray:
    true, pred = _label_pair(caller, y_true, y_pred)
    k = _class_count(caller, true, pred, num_classes)
    return np.bincount(true * k + pred, minlength=k * k).reshape(k, k)


def confusion_matrix(
    y_true: ArrayLike, y_pred: ArrayLike, num_classes: int | None = None
) -> np.ndarray:
    """Counts ``C[i, j]`` of samples of true class ``i`` predicted as class ``j`` (int64, K x K).

    >>> confusion_matrix([0, 1, 1], [[0.9, 0.1], [0.3, 0.7], [0.8, 0.2]]).tolist()
    [[1, 0], [1, 1]]
    """
    return _counts("confusion_matrix", y_true, y_pred, num_classes)


def accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Fraction of samples whose predicted class is the true class.

    >>> accuracy([0, 1, 1, 0], [0, 1, 0, 0])
    0.75
    """
    true, pred = _label_pair("accuracy", y_true, y_pred)
    return float(np.mean(true == pred))


def error_rate(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """``1 - accuracy``: the fraction of misclassified samples.

    >>> error_rate([0, 1, 1, 0], [0, 1, 0, 0])
    0.25
    """
    true, pred = _label_pair("error_rate", y_true, y_pred)
    return float(np.mean(true != pred))


class PrecisionRecallF1(NamedTuple):
    """Precision, recall, F1 and support: per-class arrays, or floats (support None) when averaged."""

    precision: np.ndarray | float
    recall: np.ndarray | float
    f1: np.ndarray | float
    support: np.ndarray | None


def _ratio(numerator: np.ndarray, denominator: np.ndarray, zero_division: float) -> np.ndarray:
    """Elementwise numerator / denominator, ``zero_division`` where the denominator is 0."""
    out = np.full(numerator.shape, zero_division, dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def _average(
    values: np.ndarray, counts: np.ndarray, average: str, included: np.ndarray, zero_division: float
) -> float:
    """Macro or weighted mean of per-class ``values`` over the ``included`` classes."""
    if average == "macro":
        return float(np.mean(values[included]))
    support = counts.sum(axis=1)[included]
    if support.sum() == 0:
        return float(zero_division)
    return float(np.average(values[included], weights=support))


def _scores_from_counts(
    counts: np.ndarray, average: str | None, included: np.ndarray, zero_division: float
) -> PrecisionRecallF1:
    """Precision, recall, F1 and support from a confusion matrix."""
    true_positives = np.diag(counts).astype(np.float64)
    predicted, actual = counts.sum(axis=0), counts.sum(axis=1)
    if average == "micro":
        micro = float(true_positives.sum() / counts.sum())  # single-label: all three = accuracy
        return PrecisionRecallF1(micro, micro, micro, None)
    per_class = (
        _ratio(true_positives, predicted, zero_division),
        _ratio(true_positives, actual, zero_division),
        _ratio(2 * true_positives, predicted + actual, zero_division),
    )
    if average is None:
        return PrecisionRecallF1(*per_class, actual.astype(np.int64))
    averaged = [_average(values, counts, average, included, zero_division) for values in per_class]
    return PrecisionRecallF1(*averaged, None)


def _included_classes(counts: np.ndarray, explicit: bool) -> np.ndarray:
    """Classes that averages run over: all when K was given, else those seen in either array."""
    if explicit:
        return np.ones(len(counts), dtype=bool)
    return (counts.sum(axis=0) + counts.sum(axis=1)) > 0


def precision_recall_f1_support(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    average: str | None = None,
    num_classes: int | None = None,
    zero_division: float = 0.0,
) -> PrecisionRecallF1:
    """Precision, recall, F1 and support (number of true samples) of each class, or averaged.

    ``average``: ``None`` (per-class arrays, indexed by class id),
    ``"macro"`` (unweighted mean over classes), ``"weighted"`` (mean weighted
    by support) or ``"micro"`` (from global counts; equals accuracy for
    single-label data). Averaged results are floats and ``support`` is None,
    as in scikit-learn.

    >>> p, r, f, s = precision_recall_f1_support([0, 0, 1, 1], [0, 1, 1, 1])
    >>> p.round(3).tolist(), r.tolist(), s.tolist()
    ([1.0, 0.667], [0.5, 1.0], [2, 2])
    """
    return _scores(
        "precision_recall_f1_support", y_true, y_pred, average, num_classes, zero_division
    )


def _scores(
    caller: str,
    y_true: ArrayLike,
    y_pred: ArrayLike,
    average: str | None,
    num_classes: int | None,
    zero_division: float,
) -> PrecisionRecallF1:
    if average not in AVERAGES:
        raise ValueError(f"{caller}: average must be one of {AVERAGES}, got {average!r}")
    counts = _counts(caller, y_true, y_pred, num_classes)
    included = _included_classes(counts, explicit=num_classes is not None)
    return _scores_from_counts(counts, average, included, zero_division)


def precision(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    average: str | None = None,
    num_classes: int | None = None,
    zero_division: float = 0.0,
) -> np.ndarray | float:
    """Precision ``tp / (tp + fp)`` per class, or averaged (see :func:`precision_recall_f1_support`).

    >>> precision([0, 0, 1, 1], [0, 1, 1, 1], average="macro")
    0.8333333333333333
    """
    return _scores("precision", y_true, y_pred, average, num_classes, zero_division).precision


def recall(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    average: str | None = None,
    num_classes: int | None = None,
    zero_division: float = 0.0,
) -> np.ndarray | float:
    """Recall ``tp / (tp + fn)`` per class, or averaged (see :func:`precision_recall_f1_support`).

    >>> recall([0, 0, 1, 1], [0, 1, 1, 1]).tolist()
    [0.5, 1.0]
    """
    return _scores("recall", y_true, y_pred, average, num_classes, zero_division).recall


def f1_score(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    average: str | None = None,
    num_classes: int | None = None,
    zero_division: float = 0.0,
) -> np.ndarray | float:
    """F1 ``2 tp / (2 tp + fp + fn)`` per class, or averaged (see :func:`precision_recall_f1_support`).

    >>> round(f1_score([0, 0, 1, 1], [0, 1, 1, 1], average="weighted"), 4)
    0.7333
    """
    return _scores("f1_score", y_true, y_pred, average, num_classes, zero_division).f1


def classification_report(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    target_names: list[str] | None = None,
    digits: int = 2,
    num_classes: int | None = None,
    zero_division: float = 0.0,
) -> str:
    """Per-class precision, recall, F1 and support, then accuracy and averages, as text.

    Laid out like scikit-learn's ``classification_report``. Rows are the
    classes ``0 .. K-1`` when ``num_classes`` or ``target_names`` fixes ``K``,
    otherwise the classes present in ``y_true`` or ``y_pred``.

    >>> print(classification_report([0, 0, 1, 1], [0, 1, 1, 1], target_names=["cat", "dog"]))
                  precision    recall  f1-score   support
    <BLANKLINE>
             cat       1.00      0.50      0.67         2
             dog       0.67      1.00      0.80         2
    <BLANKLINE>
        accuracy                           0.75         4
       macro avg       0.83      0.75      0.73         4
    weighted avg       0.83      0.75      0.73         4
    <BLANKLINE>
    """
    caller = "classification_report"
    if target_names is not None:
        if num_classes is not None and num_classes != len(target_names):
            raise ValueError(
                f"{caller}: {len(target_names)} target_names but num_classes={num_classes}"
            )
        num_classes = len(target_names)
    counts = _counts(caller, y_true, y_pred, num_classes)
    included = _included_classes(counts, explicit=num_classes is not None)
    names = list(target_names) if target_names is not None else [str(i) for i in range(len(counts))]
    per_class = _scores_from_counts(counts, None, included, zero_division)
    rows = [
        (
            names[c],
            per_class.precision[c],
            per_class.recall[c],
            per_class.f1[c],
            per_class.support[c],
        )
        for c in np.flatnonzero(included)
    ]
    total = int(counts.sum())
    summary = {
        average: _scores_from_counts(counts, average, included, zero_division)
        for average in ("micro", "macro", "weighted")
    }
    return _report_table(rows, summary, total, digits)


def _report_table(
    rows: list[tuple], summary: dict[str, PrecisionRecallF1], total: int, digits: int
) -> str:
    """Format the report: a header, one line per class, then accuracy, macro and weighted lines."""
    width = max([len(row[0]) for row in rows] + [len("weighted avg"), digits])
    number = f" {{:>9.{digits}f}}"
    line = "{:>{width}s} " + number * 3 + " {:>9}\n"
    text = f"{'':>{width}s} " + "".join(
        f" {h:>9}" for h in ("precision", "recall", "f1-score", "support")
    )
    text += "\n\n"
    for name, *values in rows:
        text += line.format(name, *values, width=width)
    text += "\n"
    accuracy_value = summary["micro"].f1
    text += f"{'accuracy':>{width}s} " + f" {'':>9}" * 2 + number.format(accuracy_value)
    text += f" {total:>9}\n"
    for title, average in (("macro avg", "macro"), ("weighted avg", "weighted")):
        scores = summary[average]
        text += line.format(title, scores.precision, scores.recall, scores.f1, total, width=width)
    return text


def format_confusion_matrix(cm: ArrayLike, labels: list[str] | None = None) -> str:
    """An aligned text table of a confusion matrix: rows true class, columns predicted class.

    Entries may be counts or normalised fractions. Long class names label the
    rows in full (after the class id) while the columns are headed by class
    id, so the table stays narrow.

    >>> print(format_confusion_matrix([[5, 1], [0, 7]], labels=["cat", "dog"]))
    true \\ pred  cat  dog
    cat            5    1
    dog            0    7
    """
    counts = np.asarray(cm)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
        raise ValueError(
            f"format_confusion_matrix: cm must be a square matrix, got shape {counts.shape}"
        )
    k = counts.shape[0]
    names = [str(i) for i in range(k)] if labels is None else [str(name) for name in labels]
    if len(names) != k:
        raise ValueError(f"format_confusion_matrix: {len(names)} labels for a {k} x {k} matrix")
    whole = np.all(np.mod(counts, 1) == 0)
    cells = [[f"{value:.0f}" if whole else f"{value:.2f}" for value in row] for row in counts]
    cell_width = max(len(cell) for row in cells for cell in row)
    if max(len(name) for name in names) <= max(cell_width, 6):
        columns, rows = names, names
    else:
        columns, rows = [str(i) for i in range(k)], [f"{i} {name}" for i, name in enumerate(names)]
    column_width = max(cell_width, *(len(column) for column in columns))
    corner = "true \\ pred"
    row_width = max(len(corner), *(len(row) for row in rows))
    lines = [
        f"{corner:<{row_width}}" + "".join(f"  {column:>{column_width}}" for column in columns)
    ]
    for name, row in zip(rows, cells):
        lines.append(f"{name:<{row_width}}" + "".join(f"  {cell:>{column_width}}" for cell in row))
    return "\n".join(lines)
