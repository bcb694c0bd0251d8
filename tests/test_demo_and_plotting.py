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


def test_cli_runs_the_demo_with_its_options(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(_demo, "run_demo", lambda **kwargs: calls.append(kwargs))
    assert main(["demo", "--no-plot", "--n-neighbors", "5", "--learners", "LDA, nca"]) == 0
    assert main(["demo", "--output", str(tmp_path / "x.svg"), "--map", "pca"]) == 0
    assert calls == [
        {"output": None, "n_neighbors": 5, "learners": ["lda", "nca"], "embedding_map": "tsne"},
        {"output": str(tmp_path / "x.svg"), "n_neighbors": 3, "learners": None,
         "embedding_map": "pca"},
    ]


def test_cli_rejects_unknown_command(capsys):
    with pytest.raises(SystemExit):
        main(["train"])
    assert "invalid choice" in capsys.readouterr().err


def _toy_scores():
    rng = np.random.default_rng(0)
    y = np.repeat([1, -1], 50)
    return y, np.r_[rng.random(50) + 0.5, rng.random(50)]  # similar pairs score higher


def test_plot_roc_is_sklearns_display_of_the_scores():
    from sklearn.metrics import RocCurveDisplay, roc_curve

    from skdml.metrics import verification_roc_auc
    from skdml.plotting import plot_roc

    y, s = _toy_scores()
    display = plot_roc(y, s, name="toy", color="gray")
    assert isinstance(display, RocCurveDisplay)
    fpr, tpr, _ = roc_curve(y, s, pos_label=1)
    np.testing.assert_allclose(display.line_.get_xdata(), fpr)
    np.testing.assert_allclose(display.line_.get_ydata(), tpr)
    assert display.roc_auc == pytest.approx(verification_roc_auc(y, s))
    assert display.roc_auc > 0.5  # scores, not distances: similar pairs rank first
    assert display.line_.get_color() == "gray"
    # a second curve on the same axes: one chance level only
    plot_roc(y, -s, ax=display.ax_, name="reversed")
    labels = [t.get_text() for t in display.ax_.get_legend().get_texts()]
    assert sum(label.startswith("Chance") for label in labels) == 1
    assert labels[0].startswith("toy (AUC") and labels[-1].startswith("reversed (AUC")
    with pytest.raises(ValueError, match="inconsistent|one label per pair"):
        plot_roc(y[:-1], s)


def test_plot_det_is_sklearns_display_with_the_eer():
    from sklearn.metrics import DetCurveDisplay, det_curve

    from skdml.metrics import equal_error_rate
    from skdml.plotting import plot_det

    y, s = _toy_scores()
    display = plot_det(y, s, name="toy")
    assert isinstance(display, DetCurveDisplay)
    fpr, fnr, _ = det_curve(y, s, pos_label=1)
    assert len(display.fpr) <= len(fpr)  # scikit-learn may drop collinear points
    assert set(np.round(display.fpr, 12)) <= set(np.round(fpr, 12))
    label = display.ax_.get_legend().get_texts()[0].get_text()
    assert label == f"toy (EER = {equal_error_rate(y, s):.3f})"
    with pytest.raises(ValueError, match="y_score"):
        plot_det(y, np.c_[s, s])


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


def test_plot_precision_recall_draws_the_points_given():
    from sklearn.metrics import PrecisionRecallDisplay

    from skdml.plotting import plot_precision_recall

    precision, recall = [1.0, 0.8, 0.5], [0.1, 0.5, 1.0]
    display = plot_precision_recall(precision, recall, name="ITQ")
    assert isinstance(display, PrecisionRecallDisplay)
    np.testing.assert_array_equal(display.line_.get_xdata(), recall)
    np.testing.assert_array_equal(display.line_.get_ydata(), precision)
    # measured operating points: marked and joined, not sklearn's steps of a ranking
    assert display.line_.get_drawstyle() == "default" and display.line_.get_marker() == "."
    assert display.ax_.get_legend().get_texts()[0].get_text() == "ITQ"
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
    assert used, "no page includes a benchmark table"
    for name in sorted(used):
        for suffix in (".csv", ".rst"):
            assert (root / "docs" / "bench_tables" / (name + suffix)).is_file(), name + suffix
        # the provenance paragraph write_table wrote names the script, which calls
        # write_table and names the table
        provenance = (root / "docs" / "bench_tables" / f"{name}.rst").read_text()
        script = re.match(r"Measured by ``benchmarks/([\w.]+)``", provenance)
        assert script, f"{name}.rst does not say which benchmark wrote it"
        source = (root / "benchmarks" / script.group(1)).read_text()
        assert "write_table(" in source and f'"{name}"' in source, (name, script.group(1))


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


# --- The demo talks (issue 19, item 5): arguments checked before any work, a line per
# learner as it finishes, `--help` without the heavy imports.

@pytest.mark.parametrize("argv, message", [
    (["--output", "{tmp}/missing/demo.png"],
     "argument --output: folder '.*missing' does not exist"),
    (["--output", "{tmp}"], "argument --output: '.*' is a folder"),
    (["--output", "{tmp}/demo.xyz"], r"argument --output: name a file ending in .*\.png"),
    (["--n-neighbors", "0"], "argument --n-neighbors: expected a positive integer, got 0"),
    (["--n-neighbors", "three"], "argument --n-neighbors: expected a positive integer"),
    (["--n-neighbors", "5000", "--no-plot"], "at most the 1257 training samples, got 5000"),
    (["--learners", "lda,umap"], "argument --learners: unknown learner.* umap; choose from"),
    (["--map", "umap"], "argument --map: invalid choice"),
])
def test_cli_demo_refuses_bad_arguments_before_any_work(argv, message, tmp_path, monkeypatch,
                                                         capsys):
    calls = []
    monkeypatch.setattr(_demo, "run_demo", lambda **kwargs: calls.append(kwargs))
    with pytest.raises(SystemExit) as exited:
        main(["demo", *(arg.format(tmp=tmp_path) for arg in argv)])
    assert exited.value.code == 2  # argparse's usage error
    err = capsys.readouterr().err
    assert err.startswith("usage: skdml demo") and re.search(message, err), err
    assert calls == []


def test_cli_demo_without_matplotlib_asks_for_the_extra_or_no_plot(monkeypatch, capsys):
    import skdml._optional

    monkeypatch.setattr(skdml._optional, "is_installed", lambda *modules: False)
    monkeypatch.setattr(_demo, "run_demo", lambda **kwargs: pytest.fail("ran"))
    with pytest.raises(SystemExit) as exited:
        main(["demo"])
    assert exited.value.code == 2
    assert "pip install 'skdml[plot]', or pass --no-plot" in capsys.readouterr().err


def test_run_demo_refuses_bad_options_before_loading_anything(monkeypatch):
    monkeypatch.setattr(_demo, "load_split", lambda: pytest.fail("loaded the data"))
    with pytest.raises(ValueError, match=r"unknown demo learner\(s\) \['umap'\]; choose"):
        _demo.run_demo(learners=["lda", "umap"])
    with pytest.raises(ValueError, match="embedding_map must be 'tsne' or 'pca', got 'umap'"):
        _demo.run_demo(embedding_map="umap")


def test_help_imports_nothing_heavy():
    """`python -m skdml --help` (and `demo --help`) answer before numpy, scikit-learn, numba
    or torch are imported: the whole answer takes a tenth of a second, not seconds."""
    import subprocess
    import sys

    heavy = ["numpy", "scipy", "sklearn", "numba", "torch", "skorch", "cvxpy", "matplotlib",
             "pandas", "dask"]
    code = (
        "import runpy, sys\n"
        "try:\n"
        "    runpy.run_module('skdml', run_name='__main__', alter_sys=True)\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
        "top = {m.partition('.')[0] for m in sys.modules}\n"
        f"print('imported:', sorted(top & {set(heavy)!r}))"
    )
    for argv in (["--help"], ["demo", "--help"], ["--version"]):
        done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert done.stdout.rstrip().endswith("imported: []"), (argv, done.stdout[-300:])
        assert "usage: skdml" in done.stdout or "skdml " in done.stdout


def test_demo_prints_a_line_per_learner_as_it_finishes(tmp_path, capsys):
    events = []
    original = _demo.demo_learners

    def spied(keys=None):  # each fit leaves a mark in the same log as the printed lines
        learners = original(keys)
        for name, learner in learners:
            fit = learner.fit
            learner.fit = lambda *a, _fit=fit, _name=name, **k: (events.append(f"fit {_name}"),
                                                                 _fit(*a, **k))[1]
        return learners

    output = tmp_path / "demo.png"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_demo, "demo_learners", spied)
        rows = _demo.run_demo(output=str(output), learners=["pca", "lda"],
                              stream=lambda line: events.append(line))
    assert [r["method"] for r in rows] == [_demo.BASELINE, "PCA (32, whitened)", "LDA"]
    progress = [e for e in events if e.startswith(("fit ", "["))]
    assert [e.split("]")[0] if e.startswith("[") else e for e in progress] == [
        "[ 1/3", "fit PCA (32, whitened)", "[ 2/3", "fit LDA", "[ 3/3"]
    for line, row in zip(progress[::2], rows):  # each line carries its learner's figures
        assert row["method"] in line and f"accuracy {row['accuracy']:.4f}" in line
    # the final table follows, one row per method, then the figure
    header = events.index(next(e for e in events if e.startswith("method ")))
    assert [e.split("  ")[0] for e in events[header + 1:header + 4]] == [r["method"] for r in rows]
    assert events[-1].startswith(f"2-D maps of the test embeddings saved to {output}")
    assert output.read_bytes()[:4] == b"\x89PNG"

    assert main(["demo", "--learners", "lda", "--no-plot"]) == 0  # the same through the CLI
    out = capsys.readouterr().out.splitlines()
    assert [line[:6] for line in out if line.startswith("[")] == ["[ 1/2]", "[ 2/2]"]
    assert any(line.startswith("LDA ") for line in out)

