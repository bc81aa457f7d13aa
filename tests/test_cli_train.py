"""``chainrule train``: the main job a newcomer runs first."""

import json
import subprocess
import sys

import numpy as np
import pytest

import chainrule as cr
from chainrule import cli
from chainrule.data import write_idx


def _train(capsys, *options):
    """Run ``chainrule train`` in-process; return (exit code, stdout, stderr)."""
    code = cli.main(["train", *options])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _last_json(stdout):
    return json.loads(stdout.strip().splitlines()[-1])


def test_default_run_reaches_97_percent_on_digits_offline(tmp_path):
    """The full default recipe, as a user runs it: a fresh process, no options but --json/--out."""
    out = tmp_path / "run"
    result = subprocess.run([sys.executable, "-m", "chainrule", "train", "--json", "--out", str(out)],
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    report = _last_json(result.stdout)
    assert report["dataset"] == "digits"
    assert report["test"]["accuracy"] >= 0.97
    cm = np.array(report["test"]["confusion_matrix"])
    assert cm.shape == (10, 10) and cm.sum() == 360
    assert np.trace(cm) / cm.sum() == pytest.approx(report["test"]["accuracy"])
    assert report["test"]["loss"] > 0 and report["seconds"] > 0
    assert set(report["history"]) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(report["history"]["loss"]) == report["epochs"] == 40
    text = result.stdout
    assert "Epoch 1/40" in text and "Epoch 40/40" in text and "val_accuracy" in text
    assert "Test accuracy:" in text and "true \\ pred" in text and "precision" in text
    assert "\r" not in text  # no progress bar when stdout is not a terminal
    files = {p.name for p in out.iterdir()}
    assert {"model.npz", "checkpoint.npz", "results.json"} <= files
    if _has_matplotlib():
        assert {"history.png", "confusion_matrix.png"} <= files
    model = cr.nn.load_model(out / "model.npz")
    data = cr.data.digits()
    assert model.evaluate(data.x_test, data.y_test)["accuracy"] == report["test"]["accuracy"]
    assert json.loads((out / "results.json").read_text())["test"] == report["test"]


def _has_matplotlib():
    try:
        import matplotlib  # noqa: F401
        return True
    except ImportError:
        return False


def test_same_seed_same_result_and_options_are_used(tmp_path, capsys):
    runs = []
    for name in ("a", "b"):
        code, out, _ = _train(capsys, "--epochs", "2", "--layers", "16", "--activation", "tanh",
                              "--optimizer", "momentum", "--lr", "0.05", "--batch-size", "64",
                              "--seed", "3", "--no-plots", "--json", "--out", str(tmp_path / name))
        assert code == 0
        runs.append(_last_json(out))
    assert runs[0]["history"]["loss"] == runs[1]["history"]["loss"]
    assert runs[0]["model"] == "64-16-10 tanh"
    model = cr.nn.load_model(tmp_path / "a" / "model.npz")
    assert isinstance(model.optimizer, cr.optim.SGD) and model.optimizer.momentum == 0.9
    assert model.optimizer.lr == 0.05


def test_jit_compile_gives_the_same_run(tmp_path, capsys):
    runs = []
    for name, extra in (("eager", []), ("jit", ["--jit-compile"])):
        code, out, _ = _train(capsys, "--epochs", "2", "--layers", "16", "--no-plots", "--json",
                              "--quiet", "--out", str(tmp_path / name), *extra)
        assert code == 0
        runs.append(_last_json(out))
    for run in runs:
        del run["history"]["seconds"]
    assert runs[0]["history"] == runs[1]["history"]
    assert runs[0]["test"] == runs[1]["test"]


def test_resume_continues_exactly_where_the_run_stopped(tmp_path, capsys):
    common = ["--epochs", "4", "--layers", "16", "--no-plots", "--quiet", "--json"]
    code, out, _ = _train(capsys, *common, "--out", str(tmp_path / "straight"))
    straight = _last_json(out)
    code, _, _ = _train(capsys, "--epochs", "2", "--layers", "16", "--no-plots", "--quiet",
                        "--out", str(tmp_path / "resumed"))
    assert code == 0
    code, out, _ = _train(capsys, *common, "--resume", "--out", str(tmp_path / "resumed"))
    assert code == 0 and "Resuming" in out
    resumed = _last_json(out)
    assert resumed["epochs"] == 4
    np.testing.assert_allclose(resumed["history"]["loss"], straight["history"]["loss"], rtol=1e-6)
    assert resumed["test"]["accuracy"] == straight["test"]["accuracy"]


def test_kfold_reports_mean_and_std_over_folds(tmp_path, capsys):
    code, out, _ = _train(capsys, "--kfold", "3", "--epochs", "2", "--layers", "16",
                          "--no-plots", "--quiet", "--json", "--out", str(tmp_path))
    assert code == 0
    report = _last_json(out)
    folds = report["kfold"]["folds"]
    assert report["kfold"]["k"] == 3 and len(folds) == 3 and len(report["history"]) == 3
    accuracies = [fold["val_accuracy"] for fold in folds]
    assert report["kfold"]["val_accuracy"]["mean"] == pytest.approx(np.mean(accuracies))
    assert report["kfold"]["val_accuracy"]["std"] == pytest.approx(np.std(accuracies))
    assert np.sum(report["test"]["confusion_matrix"]) == 3 * 360
    assert "3-fold cross-validation: val_accuracy" in out and "±" in out


def test_mnist_from_a_data_dir_of_idx_files(tmp_path, capsys):
    rng = np.random.default_rng(0)
    for part, n in (("train", 60), ("t10k", 20)):
        labels = np.arange(n, dtype=np.uint8) % 10
        images = (rng.random((n, 28, 28)) * 40).astype(np.uint8)
        images[np.arange(n), labels, :] = 255  # a readable pattern: row = label
        write_idx(tmp_path / f"{part}-images-idx3-ubyte", images)
        write_idx(tmp_path / f"{part}-labels-idx1-ubyte", labels)
    code, out, err = _train(capsys, "--dataset", "mnist", "--data-dir", str(tmp_path),
                            "--epochs", "3", "--layers", "32", "--val-split", "0", "--no-plots",
                            "--quiet", "--json", "--out", str(tmp_path / "run"))
    assert code == 0, err
    report = _last_json(out)
    assert report["dataset"] == "mnist" and report["model"] == "784-32-10 relu"
    assert np.sum(report["test"]["confusion_matrix"]) == 20


@pytest.mark.parametrize("options,status,fragment", [
    (["--layers", "64,x"], 2, "--layers"),
    (["--layers", "0"], 2, "--layers"),
    (["--epochs", "-3"], 2, "--epochs"),
    (["--batch-size", "0"], 2, "--batch-size"),
    (["--lr", "fast"], 2, "--lr"),
    (["--optimizer", "rmsprop"], 2, "invalid choice"),
    (["--activation", "gelu"], 2, "invalid choice"),
    (["--dataset", "cifar10"], 2, "invalid choice"),
    (["--val-split", "1"], 2, "--val-split"),
    (["--no-such-option"], 2, "unrecognized arguments"),
    (["--kfold", "1"], 1, "--kfold"),
    (["--val-split", "0", "--patience", "2"], 1, "--patience"),
    (["--kfold", "3", "--resume"], 1, "--resume"),
    (["--resume", "--out", "NOWHERE"], 1, "no checkpoint.npz"),
    (["--dataset", "fashion-mnist", "--data-dir", "NOWHERE-DIR"], 1, "not found"),
])
def test_bad_options_exit_non_zero_with_one_line(options, status, fragment, capsys, tmp_path,
                                                 monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("chainrule.data.datasets.download_file", _offline)
    code, out, err = _train(capsys, *options)
    assert code == status
    assert len(err.strip().splitlines()) == 1 and fragment in err
    assert "Traceback" not in err
    assert not (tmp_path / "runs").exists()  # nothing written for a failed start


def _offline(urls, *args, **kwargs):
    from chainrule.data import DownloadError
    raise DownloadError("offline (test)")


def test_bad_option_in_a_real_process_prints_no_traceback():
    result = subprocess.run([sys.executable, "-m", "chainrule", "train", "--epochs", "many"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
