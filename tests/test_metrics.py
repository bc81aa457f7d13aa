"""Specification of cr.metrics: the same numbers and report as scikit-learn's."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from sklearn import metrics as skm

from chainrule import metrics
from chainrule.data import one_hot

AVERAGES = [None, "macro", "weighted", "micro"]


def label_sets():
    """(y_true, y_pred, K) triples from fixed seeds; the last class is never predicted."""
    cases = []
    for seed, (n, k) in enumerate([(40, 3), (100, 5), (257, 10), (12, 4), (500, 2), (60, 7)]):
        rng = np.random.default_rng(seed)
        y_true = rng.integers(0, k, n)
        y_true[:k] = np.arange(k)  # every class occurs in y_true
        y_pred = np.where(rng.random(n) < 0.6, y_true, rng.integers(0, k, n))
        y_pred[y_pred == k - 1] = 0  # class k-1 is never predicted
        cases.append(pytest.param(y_true, y_pred, k, id=f"seed{seed}-n{n}-k{k}"))
    return cases


@pytest.mark.parametrize("y_true, y_pred, k", label_sets())
def test_accuracy_and_error_rate_equal_sklearn(y_true, y_pred, k):
    expected = skm.accuracy_score(y_true, y_pred)
    assert metrics.accuracy(y_true, y_pred) == pytest.approx(expected, abs=1e-15)
    assert metrics.error_rate(y_true, y_pred) == pytest.approx(1 - expected, abs=1e-15)


@pytest.mark.parametrize("y_true, y_pred, k", label_sets())
def test_confusion_matrix_equals_sklearn(y_true, y_pred, k):
    ours = metrics.confusion_matrix(y_true, y_pred, num_classes=k)
    np.testing.assert_array_equal(ours, skm.confusion_matrix(y_true, y_pred, labels=range(k)))
    assert ours.dtype == np.int64
    np.testing.assert_array_equal(metrics.confusion_matrix(y_true, y_pred), ours)


@pytest.mark.parametrize("zero_division", [0.0, 1.0])
@pytest.mark.parametrize("average", AVERAGES)
@pytest.mark.parametrize("y_true, y_pred, k", label_sets())
def test_precision_recall_f1_equal_sklearn(y_true, y_pred, k, average, zero_division):
    options = {"average": average, "zero_division": zero_division}
    for ours, theirs in [
        (metrics.precision, skm.precision_score),
        (metrics.recall, skm.recall_score),
        (metrics.f1_score, skm.f1_score),
    ]:
        expected = theirs(y_true, y_pred, labels=list(range(k)), **options)
        got = ours(y_true, y_pred, num_classes=k, **options)
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
        if average is not None:
            assert isinstance(got, float)


@pytest.mark.parametrize("average", AVERAGES)
@pytest.mark.parametrize("y_true, y_pred, k", label_sets())
def test_support_equals_sklearn(y_true, y_pred, k, average):
    ours = metrics.precision_recall_f1_support(y_true, y_pred, average=average, num_classes=k)
    theirs = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=list(range(k)), average=average, zero_division=0.0
    )
    for got, expected in zip(ours, theirs):
        if expected is None:
            assert got is None
        else:
            np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
    assert ours.f1 is ours[2]


@pytest.mark.parametrize("average", ["macro", "weighted", "micro"])
def test_without_num_classes_averages_run_over_the_classes_seen_like_sklearn(average):
    y_true = np.array([0, 0, 2, 2, 3, 3, 3, 0])  # class 1 never occurs; class 3 never predicted
    y_pred = np.array([0, 2, 2, 2, 0, 2, 0, 0])
    for ours, theirs in [
        (metrics.precision, skm.precision_score),
        (metrics.recall, skm.recall_score),
        (metrics.f1_score, skm.f1_score),
    ]:
        expected = theirs(y_true, y_pred, average=average, zero_division=0.0)
        assert ours(y_true, y_pred, average=average) == pytest.approx(expected, abs=1e-15)


def test_per_class_arrays_are_indexed_by_class_id():
    y_true = np.array([0, 0, 2, 2, 3, 3, 3, 0])
    y_pred = np.array([0, 2, 2, 2, 0, 2, 0, 0])
    recall = metrics.recall(y_true, y_pred)
    assert recall.shape == (4,)
    np.testing.assert_allclose(recall[[0, 2, 3]], skm.recall_score(y_true, y_pred, average=None))
    assert recall[1] == 0.0


def test_zero_division_value_is_used_for_0_over_0():
    y_true, y_pred = [0, 0, 1], [0, 0, 0]  # class 1 never predicted
    assert metrics.precision(y_true, y_pred)[1] == 0.0
    assert metrics.precision(y_true, y_pred, zero_division=1.0)[1] == 1.0
    assert np.isnan(metrics.precision(y_true, y_pred, zero_division=np.nan)[1])
    assert metrics.f1_score(y_true, y_pred, zero_division=1.0)[1] == 0.0  # 2tp/(2tp+fp+fn) = 0/1


@pytest.mark.parametrize("y_true, y_pred, k", label_sets())
def test_one_hot_and_probability_rows_mean_their_argmax(y_true, y_pred, k):
    rng = np.random.default_rng(k)
    scores = rng.random((len(y_pred), k))
    scores[np.arange(len(y_pred)), y_pred] += 1.0  # argmax is y_pred
    probabilities = scores / scores.sum(axis=1, keepdims=True)
    expected = metrics.confusion_matrix(y_true, y_pred, num_classes=k)
    got = metrics.confusion_matrix(one_hot(y_true, k), probabilities, num_classes=k)
    np.testing.assert_array_equal(got, expected)
    assert metrics.accuracy(one_hot(y_true, k), scores) == metrics.accuracy(y_true, y_pred)


@pytest.mark.parametrize("digits", [2, 3, 4])
@pytest.mark.parametrize("y_true, y_pred, k", label_sets())
def test_classification_report_is_laid_out_like_sklearns(y_true, y_pred, k, digits):
    expected = skm.classification_report(
        y_true, y_pred, labels=list(range(k)), digits=digits, zero_division=0.0
    )
    assert metrics.classification_report(y_true, y_pred, num_classes=k, digits=digits) == expected


def test_classification_report_with_target_names_matches_sklearn():
    names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal"]
    rng = np.random.default_rng(11)
    y_true, y_pred = rng.integers(0, 6, 90), rng.integers(0, 5, 90)
    expected = skm.classification_report(
        y_true, y_pred, labels=list(range(6)), target_names=names, zero_division=0.0
    )
    report = metrics.classification_report(y_true, y_pred, target_names=names)
    assert report == expected
    assert "Sandal" in report and "accuracy" in report


def test_classification_report_without_num_classes_lists_the_classes_seen():
    y_true, y_pred = [0, 0, 2, 2, 5], [0, 2, 2, 2, 0]
    expected = skm.classification_report(y_true, y_pred, zero_division=0.0)
    assert metrics.classification_report(y_true, y_pred) == expected


def test_classification_report_checks_target_names_against_num_classes():
    with pytest.raises(ValueError, match="2 target_names but num_classes=3"):
        metrics.classification_report([0, 1], [1, 0], target_names=["a", "b"], num_classes=3)


@pytest.mark.parametrize(
    "function",
    [
        metrics.accuracy,
        metrics.error_rate,
        metrics.confusion_matrix,
        metrics.precision,
        metrics.recall,
        metrics.f1_score,
        metrics.precision_recall_f1_support,
        metrics.classification_report,
    ],
)
def test_length_mismatch_names_the_function_and_the_shapes(function):
    with pytest.raises(ValueError) as raised:
        function(np.zeros(5, int), np.zeros((4, 3)))
    message = str(raised.value)
    assert message.startswith(function.__name__ + ":")
    assert "(5,)" in message and "(4, 3)" in message


def test_labels_beyond_num_classes_are_an_error():
    with pytest.raises(
        ValueError, match="confusion_matrix: label 3 is out of range for num_classes=3"
    ):
        metrics.confusion_matrix([0, 1, 3], [0, 1, 2], num_classes=3)


def test_unknown_average_and_empty_labels_are_errors():
    with pytest.raises(ValueError, match="precision: average must be one of"):
        metrics.precision([0, 1], [0, 1], average="samples")
    with pytest.raises(ValueError, match="accuracy: y_true and y_pred are empty"):
        metrics.accuracy([], [])


def parse_table(text: str) -> tuple[list[str], list[str], np.ndarray]:
    """Column headers, row headers and values of a format_confusion_matrix table."""
    lines = text.splitlines()
    columns = lines[0].split()[3:]  # after "true \ pred"
    k = len(columns)
    rows = [" ".join(line.split()[:-k]) for line in lines[1:]]
    values = np.array([[float(cell) for cell in line.split()[-k:]] for line in lines[1:]])
    return columns, rows, values


def test_format_confusion_matrix_is_an_aligned_table_that_reads_back():
    cm = metrics.confusion_matrix(*[np.random.default_rng(1).integers(0, 4, 300) for _ in range(2)])
    text = metrics.format_confusion_matrix(cm)
    columns, rows, values = parse_table(text)
    assert columns == rows == ["0", "1", "2", "3"]
    np.testing.assert_array_equal(values, cm)
    lines = text.splitlines()
    assert lines[0].startswith("true \\ pred")
    assert len({len(line) for line in lines}) == 1, "every line has the same width"
    header_ends = [
        i for i, char in enumerate(lines[0]) if char != " " and lines[0][i + 1 :][:1] in ("", " ")
    ]
    for line in lines[1:]:  # numbers are right-aligned under their headers
        assert all(line[end] != " " for end in header_ends[-len(columns) :])


def test_format_confusion_matrix_shows_long_class_names_on_the_rows():
    names = ["T-shirt/top", "Trouser", "Ankle boot"]
    cm = np.array([[50, 2, 0], [1, 60, 0], [0, 0, 1234]])
    columns, rows, values = parse_table(metrics.format_confusion_matrix(cm, labels=names))
    assert columns == ["0", "1", "2"]
    assert rows == ["0 T-shirt/top", "1 Trouser", "2 Ankle boot"]
    np.testing.assert_array_equal(values, cm)
    short = metrics.format_confusion_matrix(cm, labels=["cat", "dog", "cow"])
    assert parse_table(short)[0] == ["cat", "dog", "cow"]


def test_format_confusion_matrix_prints_fractions_with_two_decimals():
    cm = np.array([[3, 1], [0, 4]])
    text = metrics.format_confusion_matrix(cm / cm.sum(axis=1, keepdims=True))
    assert "0.75" in text and "0.25" in text and "1.00" in text and "0.00" in text


def test_format_confusion_matrix_rejects_bad_input():
    with pytest.raises(ValueError, match=r"square matrix, got shape \(2, 3\)"):
        metrics.format_confusion_matrix(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="3 labels for a 2 x 2 matrix"):
        metrics.format_confusion_matrix(np.zeros((2, 2)), labels=["a", "b", "c"])


def test_metrics_module_has_runnable_examples():
    results = doctest.testmod(metrics)
    assert results.attempted > 0 and results.failed == 0
