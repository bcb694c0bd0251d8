"""The README's main job (the demo), the command line and the plotting helpers."""

import matplotlib
import numpy as np
import pytest
from sklearn.datasets import load_iris

from skdml import LDA
from skdml import _demo
from skdml.__main__ import main
from skdml.plotting import plot_embedding

matplotlib.use("Agg")


def test_demo_reproduces_the_protocol_baseline():
    lines = []
    rows = {r["method"]: r for r in _demo.run_demo(output=None, stream=lines.append)}
    table = "\n".join(lines)
    assert all(name in table for name in rows)
    # Protocol of ../shared/ANCHORS.md: Euclidean 3-NN accuracy 0.9796, MAP@R 0.476.
    assert rows["Euclidean (no learning)"]["accuracy"] == pytest.approx(0.9796, abs=1e-4)
    assert rows["Euclidean (no learning)"]["map_at_r"] == pytest.approx(0.476, abs=1e-3)
    # Supervised learners gather the classes: MAP@R far above the raw features'.
    assert rows["LDA"]["map_at_r"] > 0.7
    assert all(0.0 < r["accuracy"] <= 1 for r in rows.values())
    # The flagship learners beat Euclidean kNN on its own protocol (ANCHORS: LMNN 0.987).
    assert rows["LMNN"]["accuracy"] >= 0.985
    assert rows["NCA"]["accuracy"] > rows["Euclidean (no learning)"]["accuracy"]


def test_demo_figure_is_written(tmp_path):
    X, y = load_iris(return_X_y=True)
    Z = LDA().fit_transform(X, y)
    path = tmp_path / "demo.png"
    _demo._save_figure([("raw", X[:, :2]), ("LDA", Z)], y, path)  # 2-D: no t-SNE needed
    assert path.stat().st_size > 10_000
    assert path.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_plot_embedding_draws_every_point(method):
    X, y = load_iris(return_X_y=True)
    X, y = X[::3], y[::3]  # t-SNE is slow; 50 points show the same
    ax = plot_embedding(X, np.array(["a", "b", "c"])[y], method=method, title="t")
    assert sum(len(c.get_offsets()) for c in ax.collections) == len(X)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b", "c"]


def test_plot_embedding_bad_input():
    with pytest.raises(ValueError, match="method must be"):
        plot_embedding(np.zeros((3, 2)), method="umap")
    with pytest.raises(ValueError, match="inconsistent"):
        plot_embedding(np.zeros((3, 2)), [0, 1])


def test_cli_runs_the_demo_with_its_options(monkeypatch):
    calls = []
    monkeypatch.setattr(_demo, "run_demo", lambda **kwargs: calls.append(kwargs))
    assert main(["demo", "--no-plot", "--n-neighbors", "5"]) == 0
    assert main(["demo", "--output", "x.png"]) == 0
    assert calls == [{"output": None, "n_neighbors": 5}, {"output": "x.png", "n_neighbors": 3}]


def test_cli_rejects_unknown_command(capsys):
    with pytest.raises(SystemExit):
        main(["train"])
    assert "invalid choice" in capsys.readouterr().err


def test_plot_roc_matches_the_verification_metrics():
    from skdml.metrics import verification_roc_auc
    from skdml.plotting import plot_roc

    rng = np.random.default_rng(0)
    y = np.repeat([1, -1], 50)
    d = np.r_[rng.random(50), rng.random(50) + 0.5]
    ax = plot_roc(y, d, label="toy")
    fpr, tpr = ax.get_lines()[0].get_data()
    assert np.trapezoid(tpr, fpr) == pytest.approx(verification_roc_auc(y, d))
    with pytest.raises(ValueError, match="inconsistent"):
        plot_roc(y[:-1], d)


def test_plot_training_history_of_a_real_fit():
    from skdml import DDML
    from skdml.plotting import plot_training_history

    X, y = load_iris(return_X_y=True)
    ddml = DDML(max_epochs=3, random_state=0).fit(X, y)
    ax = plot_training_history(ddml.history)
    (line,) = ax.get_lines()
    np.testing.assert_allclose(line.get_ydata(), ddml.history[:, "train_loss"])
    with pytest.raises(ValueError, match="none of the keys"):
        plot_training_history(ddml.history, keys=("accuracy",))
    with pytest.raises(ValueError, match="empty"):
        plot_training_history([])


def test_plot_precision_recall_bad_input():
    from skdml.plotting import plot_precision_recall

    with pytest.raises(ValueError, match="inconsistent"):
        plot_precision_recall([1.0, 0.5], [0.1])


def test_cli_lists_and_checks_benchmark_families(capsys):
    assert main(["benchmark"]) == 0
    out = capsys.readouterr().out
    assert "lmnn" in out and "itml" in out and "kernels" in out
    with pytest.raises(SystemExit, match="unknown family nope; choose from"):
        main(["benchmark", "nope"])


def test_cli_help_explains_both_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "demo" in out and "benchmark" in out and "peer" in out
