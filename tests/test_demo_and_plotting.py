"""The README's main job (the demo), the command line and the plotting helpers."""

import csv
import importlib.util
import io
import os
import pathlib
import re

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


def test_cli_write_docs_flag_is_scoped_to_the_run(capsys, monkeypatch):
    monkeypatch.delenv("SKDML_BENCH_WRITE_DOCS", raising=False)
    assert main(["benchmark", "--write-docs"]) == 0  # no family: lists them, runs nothing
    assert "lmnn" in capsys.readouterr().out
    assert "SKDML_BENCH_WRITE_DOCS" not in os.environ


def test_cli_runs_every_family_even_after_a_script_exits(tmp_path, monkeypatch, capsys):
    import skdml.__main__ as cli

    (tmp_path / "bench_a.py").write_text("import sys\nprint('ran a')\nsys.exit(0)\n")
    (tmp_path / "bench_b.py").write_text("import os\nprint('ran b', "
                                         "os.environ.get('SKDML_BENCH_WRITE_DOCS'))\n")
    (tmp_path / "bench_c.py").write_text("import sys\nsys.exit(3)\n")
    monkeypatch.setattr(cli, "_benchmark_dir", lambda: tmp_path)
    monkeypatch.delenv("SKDML_BENCH_WRITE_DOCS", raising=False)
    assert main(["benchmark", "--write-docs", "a", "b"]) == 0
    out = capsys.readouterr().out
    assert "ran a" in out and "ran b 1" in out
    assert "SKDML_BENCH_WRITE_DOCS" not in os.environ
    with pytest.raises(SystemExit) as failed:  # a failing script still fails the command
        main(["benchmark", "c"])
    assert failed.value.code == 3


def _bench_common():
    """benchmarks/_common.py of this checkout, imported the way the benchmarks import it."""
    path = pathlib.Path(__file__).resolve().parent.parent / "benchmarks" / "_common.py"
    spec = importlib.util.spec_from_file_location("_bench_common", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_write_table_writes_csv_and_provenance_only_under_write_docs(
        tmp_path, monkeypatch, capsys):
    common = _bench_common()
    monkeypatch.setenv("SKDML_BENCH_DOCS_DIR", str(tmp_path))
    rows = [{"method": "ours", "fit_s": 0.123456, "accuracy": 0.98, "|diff|": 1e-15},
            {"method": "peer", "fit_s": common.NOT_MEASURED, "accuracy": "complex components_"}]
    columns = ["method", "fit_s", "accuracy", "|diff|"]

    monkeypatch.delenv("SKDML_BENCH_WRITE_DOCS", raising=False)
    common.write_table("tiny", rows, columns)
    assert "0.1235" in capsys.readouterr().out  # always printed
    assert list(tmp_path.iterdir()) == []  # nothing written without --write-docs

    monkeypatch.setenv("SKDML_BENCH_WRITE_DOCS", "1")
    monkeypatch.setattr("sys.argv", ["benchmarks/bench_tiny.py"])
    common.start_run(threads=1, repeat=3, warmup=True)
    common.write_table("tiny", rows, columns, note="a synthetic table of components_")
    with open(tmp_path / "tiny.csv", newline="") as f:
        assert list(csv.reader(f)) == [  # reST markup escaped: the pages parse every cell
            ["method", "fit\\_s", "accuracy", "\\|diff\\|"], ["ours", "0.1235", "0.98", "1e-15"],
            ["peer", "not measured", "complex components\\_", ""]]
    provenance = (tmp_path / "tiny.rst").read_text()
    assert provenance.startswith("Measured by ``benchmarks/bench_tiny.py`` on ")
    assert re.search(r"load average \d+\.\d\d at start / \d+\.\d\d at end\.", provenance)
    assert "1 BLAS/OpenMP/torch/numba thread" in provenance
    assert "median of 3 timed calls" in provenance
    assert "A synthetic table of components\\_." in provenance
    with pytest.raises(ValueError, match="table name"):
        common.write_table("../escape", rows, columns)

    # the page's directives read both files without a docutils complaint
    core = pytest.importorskip("docutils.core")
    page = tmp_path / "page.rst"
    page.write_text(".. csv-table::\n   :file: tiny.csv\n   :header-rows: 1\n\n"
                    ".. include:: tiny.rst\n")
    complaints = io.StringIO()
    doctree = core.publish_doctree(page.read_text(), source_path=str(page), settings_overrides={
        "report_level": 2, "warning_stream": complaints})
    assert complaints.getvalue() == ""
    assert "complex components_" in doctree.astext()


def test_every_docs_table_is_written_by_a_benchmark():
    """The docs include only tables that a script of ``benchmarks/`` writes with
    ``write_table`` (never typed by hand), and each is in the repository, so the docs build
    from a fresh clone."""
    root = pathlib.Path(__file__).resolve().parent.parent
    pages = "\n".join(p.read_text() for p in (root / "docs").glob("*.rst"))
    used = set(re.findall(r"bench_tables/([\w-]+)\.(?:csv|rst)", pages))
    written = set(re.findall(r"write_table\(\s*\"([\w-]+)\"", "\n".join(
        p.read_text() for p in (root / "benchmarks").glob("*.py"))))
    assert used, "no page includes a benchmark table"
    assert used <= written, f"tables no benchmark writes: {sorted(used - written)}"
    for name in used:
        for suffix in (".csv", ".rst"):
            assert (root / "docs" / "bench_tables" / (name + suffix)).is_file(), name + suffix


def test_median_time_and_peer_cells():
    common = _bench_common()
    calls = []
    seconds, result = common.median_time(lambda: calls.append(1) or len(calls), repeat=3)
    assert len(calls) == 4 and result == 4 and seconds >= 0  # one warm-up, three timed
    common.median_time(lambda: calls.append(1), repeat=1, warmup=False)
    assert len(calls) == 5
    with pytest.raises(ValueError, match="repeat"):
        common.median_time(lambda: None, repeat=0)
    assert common.PeerRun(reason="no venv").cell("fit_s") == "not measured"
    assert common.PeerRun({"fit_s": 1.5}).cell("fit_s") == 1.5
    assert common.attempt(lambda: 1 / 0) == "raised ZeroDivisionError: division by zero"


def test_cli_help_explains_both_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "demo" in out and "benchmark" in out and "peer" in out
