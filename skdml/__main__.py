"""Command line: ``python -m skdml demo [--output FILE]``."""

import argparse
import sys


def main(argv=None):
    """Entry point of ``python -m skdml`` and of the ``skdml`` script."""
    from . import __version__

    parser = argparse.ArgumentParser(prog="skdml", description=__doc__)
    parser.add_argument("--version", action="version", version=f"skdml {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="learn each metric on sklearn's digits and compare kNN accuracy"
    )
    demo.add_argument("--output", default="skdml_demo.png",
                      help="where to save the 2-D embedding figure (default: %(default)s)")
    demo.add_argument("--no-plot", action="store_true", help="skip the figure")
    demo.add_argument("--n-neighbors", type=int, default=3, help="k of the kNN classifier")
    args = parser.parse_args(argv)

    if args.command == "demo":
        from ._demo import run_demo

        run_demo(output=None if args.no_plot else args.output, n_neighbors=args.n_neighbors)
    return 0


if __name__ == "__main__":
    sys.exit(main())
