"""skdml's command line.

  python -m skdml demo [--output FILE]     every learner on sklearn's digits against
                                           Euclidean kNN: a line per learner as it
                                           finishes, a table and a figure
  python -m skdml benchmark [--write-docs] [FAMILY ...]
                                           the benchmarks of a source checkout
                                           (benchmarks/bench_FAMILY.py), each printing
                                           skdml's figures beside its peer's, same run;
                                           --write-docs also writes the docs' tables
                                           (docs/bench_tables/*.csv)
"""

import argparse
import os
import pathlib
import runpy
import sys


def _benchmark_dir():
    """``benchmarks/`` of the source checkout this package runs from, or None."""
    root = pathlib.Path(__file__).resolve().parent.parent / "benchmarks"
    return root if root.is_dir() else None


def _families(root):
    return sorted(p.stem[len("bench_"):] for p in root.glob("bench_*.py"))


def _run_benchmarks(families, stream=print, write_docs=False):
    root = _benchmark_dir()
    if root is None:
        raise SystemExit(
            "skdml benchmark: the benchmarks ship with the source repository "
            "(benchmarks/bench_*.py), not with the installed package; run it from a clone."
        )
    available = _families(root)
    if not families:
        stream("benchmark families: " + ", ".join(available))
        stream("run one with: python -m skdml benchmark FAMILY  (or 'all')")
        return 0
    if families == ["all"]:
        families = available
    unknown = sorted(set(families) - set(available))
    if unknown:
        raise SystemExit(
            f"skdml benchmark: unknown famil{'y' if len(unknown) == 1 else 'ies'} "
            f"{', '.join(unknown)}; choose from: {', '.join(available)}."
        )
    sys.path.insert(0, str(root))
    argv, env = sys.argv, os.environ.get("SKDML_BENCH_WRITE_DOCS")
    if write_docs:  # read by benchmarks/_common.write_table
        os.environ["SKDML_BENCH_WRITE_DOCS"] = "1"
    try:
        for family in families:
            script = root / f"bench_{family}.py"
            stream(f"== benchmarks/{script.name}")
            sys.argv = [str(script)]  # each script parses its own (default) options
            try:
                runpy.run_path(str(script), run_name="__main__")
            except SystemExit as exc:  # a script's sys.exit(0) must not end the others
                if exc.code not in (None, 0):
                    raise
    finally:
        sys.argv = argv
        if env is None:
            os.environ.pop("SKDML_BENCH_WRITE_DOCS", None)
        else:
            os.environ["SKDML_BENCH_WRITE_DOCS"] = env
    return 0


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _learner_keys(text):
    from ._demo import LEARNERS

    keys = [key.strip().lower() for key in text.split(",") if key.strip()]
    unknown = [key for key in keys if key not in LEARNERS]
    if unknown or not keys:
        raise argparse.ArgumentTypeError(
            f"unknown learner(s) {', '.join(unknown) or repr(text)}; "
            f"choose from: {', '.join(LEARNERS)}")
    return keys


def _check_demo_args(parser, args):
    """What argparse's types cannot check, checked before any learner is fitted."""
    from ._demo import load_split
    from ._optional import is_installed

    if not args.no_plot:
        path = pathlib.Path(args.output)
        if not path.parent.is_dir():
            parser.error(f"argument --output: folder {str(path.parent)!r} does not exist")
        if path.is_dir():
            parser.error(f"argument --output: {args.output!r} is a folder; name a file in it")
        if not os.access(path.parent, os.W_OK):
            parser.error(f"argument --output: cannot write in folder {str(path.parent)!r}")
        if not is_installed("matplotlib"):
            parser.error("the figure needs matplotlib: pip install 'skdml[plot]', "
                         "or pass --no-plot")
        from matplotlib.backend_bases import FigureCanvasBase

        formats = FigureCanvasBase.get_supported_filetypes()
        if path.suffix.lower().lstrip(".") not in formats:
            parser.error(f"argument --output: name a file ending in a format matplotlib "
                         f"writes ({', '.join('.' + f for f in sorted(formats))}), "
                         f"got {args.output!r}")
    n_train = len(load_split()[0])
    if args.n_neighbors > n_train:
        parser.error(f"argument --n-neighbors: at most the {n_train} training samples, "
                     f"got {args.n_neighbors}")


def main(argv=None):
    """Entry point of ``python -m skdml`` and of the ``skdml`` script.

    Nothing heavy is imported until a command runs: ``--help`` answers at once.
    """
    from . import __version__
    from ._demo import LEARNERS, MAP_POINTS

    parser = argparse.ArgumentParser(
        prog="skdml", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"skdml {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="learn each metric on sklearn's digits and compare kNN accuracy",
        description="Fit each classical learner on sklearn's digits (StandardScaler, "
        "stratified 70/30 split, seed 0), print the kNN accuracy and MAP@R of each learned "
        "space against the Euclidean baseline as each learner finishes, then the table, and "
        "save 2-D maps of the test embeddings.",
    )
    demo.add_argument("--output", default="skdml_demo.png",
                      help="where to save the figure; its suffix names the format "
                      "(default: %(default)s)")
    demo.add_argument("--no-plot", action="store_true", help="skip the figure")
    demo.add_argument("--n-neighbors", type=_positive_int, default=3,
                      help="k of the kNN classifier (default: %(default)s)")
    demo.add_argument("--learners", type=_learner_keys, default=None, metavar="KEY[,KEY...]",
                      help=f"run only these (default: all): {', '.join(LEARNERS)}")
    demo.add_argument("--map", choices=("tsne", "pca"), default="tsne",
                      help=f"tsne: t-SNE of {MAP_POINTS} test points per space, a few seconds "
                      "in all (who is whose neighbor); pca: the two principal axes of the "
                      "whole test set, instant (default: %(default)s)")
    bench = commands.add_parser(
        "benchmark", help="run benchmarks/bench_FAMILY.py: skdml beside its peers",
        description="Run the benchmarks of a source checkout. Each prints skdml's figures "
        "beside its peer's measured in the same run (metric-learn, mlpack, faiss, "
        "pytorch-metric-learning from the .venv-peers built by `make peers`; sklearn, "
        "scipy and NumPy from this environment) and the ratio. With no FAMILY, list them.",
    )
    bench.add_argument("families", nargs="*", metavar="FAMILY",
                       help="e.g. lmnn, itml, kernels, hamming, deep; 'all' runs every one")
    bench.add_argument("--write-docs", action="store_true",
                       help="also write each table, with the date, machine and load average "
                       "of this run, to docs/bench_tables/ (the docs pages include them)")
    args = parser.parse_args(argv)

    if args.command == "demo":
        from . import _demo

        _check_demo_args(demo, args)
        _demo.run_demo(output=None if args.no_plot else args.output,
                       n_neighbors=args.n_neighbors, learners=args.learners,
                       embedding_map=args.map)
        return 0
    return _run_benchmarks(args.families, write_docs=args.write_docs)


if __name__ == "__main__":
    sys.exit(main())
