"""Every code block of README.md and docs/ runs as written (issue 19).

One runner for every page. A page's blocks run in the order of the page, in one namespace
per page, as a reader pasting them one after the other would run them: a page defines its
own data, and nothing is set up for it here beyond what a careful reader does too (torch
and BLAS on one thread, figures drawn off screen, files written in a scratch folder).

What runs:

- in ``docs/*.rst``: ``.. code-block:: python`` blocks, as code, and ``>>>`` doctest blocks,
  through :mod:`doctest` (their printed output is checked, whitespace normalized);
- in ``README.md`` and ``docs/*.md``: fenced blocks opened with ```` ```python ````.

What does not run, said in the page itself, never skipped silently:

- a block in another language: ``.. code-block:: bash`` (or ``text``, ``console``, ...),
  a fence opened with ```` ```bash ````;
- a Python block that needs what the test suite does not have (a GPU, a cluster, the
  network), introduced by a comment naming the reason, on the line(s) just above it:
  ``.. not run: needs a GPU`` in reStructuredText, ``<!-- not run: needs a GPU -->`` in
  Markdown.

Plain ``::`` literal blocks are refused: Sphinx would highlight them as Python, so each code
block says its language. Every line of a code block fits the page (88 characters).
"""

import doctest
import re
import runpy
import textwrap
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
GENERATED = {"sg_execution_times.rst"}  # written by sphinx-gallery, not a page of ours
PAGES = sorted(page for page in [ROOT / "README.md", *(ROOT / "docs").glob("*.rst"),
                                 *(ROOT / "docs").glob("*.md")]
               if page.name not in GENERATED)
MAX_LINE = 88
RUNNABLE = {"python", "py", "python3", "pycon"}
NOT_RUN = re.compile(r"^\s*(?:\.\. |<!-- )not run: (?P<reason>.+?)(?: -->)?\s*$")


@dataclass
class Block:
    """A code block of a page: its language, code, first line in the page, and why not run."""

    language: str
    code: str
    line: int
    not_run: str = ""

    @property
    def runs(self):
        return self.language in RUNNABLE and not self.not_run


def _indent(line):
    return len(line) - len(line.lstrip())


def _not_run_reason(lines, i):
    """The reason of a ``not run:`` comment just above line ``i`` (blank lines between).

    The comment may go on over more lines, indented under its first.
    """
    end = i - 1
    while end >= 0 and not lines[end].strip():
        end -= 1
    start = end
    while start > 0 and lines[start].strip() and not NOT_RUN.match(lines[start]):
        start -= 1
    match = NOT_RUN.match(lines[start]) if start >= 0 else None
    more = lines[start + 1:end + 1]
    if not match or any(_indent(line) <= _indent(lines[start]) for line in more):
        return ""
    return " ".join([match["reason"], *(line.strip() for line in more)])


def _rst_blocks(text):
    """The code blocks of a reStructuredText page, in order."""
    lines, blocks, i = text.splitlines(), [], 0
    while i < len(lines):
        line = lines[i]
        directive = re.match(r"^(\s*)\.\. (code-block|code|sourcecode)::\s*(\S*)", line)
        if directive or (line.rstrip().endswith("::") and not line.lstrip().startswith("..")):
            if not directive:
                raise AssertionError(
                    f"line {i + 1}: a '::' literal block; say its language with "
                    "'.. code-block:: python' (or bash, text, ...)")
            start, j = i, i + 1
            while j < len(lines) and re.match(r"^\s+:[\w-]+:", lines[j]):
                j += 1  # the directive's options
            body_start, body = j, []
            while j < len(lines) and (not lines[j].strip() or
                                      _indent(lines[j]) > _indent(line)):
                body.append(lines[j])
                j += 1
            first = next(k for k, b in enumerate(body) if b.strip())
            blocks.append(Block(directive[3] or "python",
                                textwrap.dedent("\n".join(body)).strip("\n") + "\n",
                                body_start + first + 1,
                                _not_run_reason(lines, start)))
            i = j
        elif line.lstrip().startswith(">>>") and (i == 0 or not lines[i - 1].strip()):
            j = i
            while j < len(lines) and lines[j].strip():
                j += 1
            blocks.append(Block("pycon", textwrap.dedent("\n".join(lines[i:j])) + "\n",
                                i + 1, _not_run_reason(lines, i)))
            i = j
        else:
            i += 1
    return blocks


def _markdown_blocks(text):
    """The fenced code blocks of a Markdown page, in order."""
    lines, blocks, i = text.splitlines(), [], 0
    while i < len(lines):
        fence = re.match(r"^```(\S*)\s*$", lines[i])
        if fence:
            j = i + 1
            while not lines[j].startswith("```"):
                j += 1
            assert fence[1], f"line {i + 1}: a fence without a language (```python, ```bash)"
            blocks.append(Block(fence[1], "\n".join(lines[i + 1:j]) + "\n", i + 2,
                                _not_run_reason(lines, i)))
            i = j
        i += 1
    return blocks


def page_blocks(page):
    """The code blocks of ``page`` (a path), in the order of the page."""
    text = page.read_text()
    return _markdown_blocks(text) if page.suffix == ".md" else _rst_blocks(text)


def run_page(page, namespace=None):
    """Run the runnable blocks of ``page`` in order, in one namespace, and return it."""
    name = str(page.relative_to(ROOT)) if page.is_relative_to(ROOT) else page.name
    namespace = {} if namespace is None else namespace
    namespace.setdefault("__name__", "__docs__")
    for block in page_blocks(page):
        if not block.runs:
            continue
        if block.code.lstrip().startswith(">>>"):
            test = doctest.DocTestParser().get_doctest(block.code, namespace, name, name,
                                                       block.line - 1)
            report = []
            runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
            runner.run(test, out=report.append, clear_globs=False)
            namespace.update(test.globs)
            if runner.failures:
                pytest.fail("".join(report), pytrace=False)
        else:  # leading newlines: a traceback names the line of the page
            exec(compile("\n" * (block.line - 1) + block.code, name, "exec"), namespace)
    return namespace


@pytest.fixture
def reader_setup(tmp_path, monkeypatch):
    """One thread for torch and BLAS, figures off screen, files in a scratch folder."""
    monkeypatch.chdir(tmp_path)
    plt = pytest.importorskip("matplotlib.pyplot")
    plt.switch_backend("agg")
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a page's warnings are the reader's to see, not errors
        yield
    torch.set_num_threads(threads)
    plt.close("all")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_page_code_blocks_fit_the_page_and_say_their_language(page):
    for block in page_blocks(page):
        for k, line in enumerate(block.code.splitlines()):
            assert len(line) <= MAX_LINE, (
                f"{page.name}:{block.line + k}: {len(line)} characters > {MAX_LINE}")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_page_runs_as_written(page, reader_setup):
    namespace = {}
    try:
        run_page(page, namespace)  # an exception or a doctest mismatch fails the page
        runs = [b for b in page_blocks(page) if b.runs]
        # every page that shows code runs some of it (none marked away wholesale)
        assert not runs or set(namespace) - {"__builtins__"}, f"{page.name} defined nothing"
        if page.name in PAGE_CHECKS:
            PAGE_CHECKS[page.name](namespace)
    finally:
        for name in ("client", "cluster"):  # a page's dask cluster, not left running
            if hasattr(namespace.get(name), "close"):
                namespace[name].close()


# --------------------------------------------------------------------------------- parsing
def test_the_parser_finds_what_runs_and_what_is_marked_not_to(tmp_path):
    page = tmp_path / "page.rst"
    page.write_text(textwrap.dedent("""\
        Title
        =====

        .. code-block:: python
           :caption: a caption

           x = 1
           if x:
               y = 2

        >>> x + 1
        2

        .. code-block:: bash

           make docs

        .. not run: needs a GPU

        .. code-block:: python

           model.to("cuda")

        .. not run: a script,
           run as such

        .. code-block:: python

           fit_data_parallel(net, X, y)
        """))
    blocks = page_blocks(page)
    assert [(b.language, b.line, b.runs) for b in blocks] == [
        ("python", 7, True), ("pycon", 11, True), ("bash", 16, False),
        ("python", 22, False), ("python", 29, False)]
    assert blocks[0].code == "x = 1\nif x:\n    y = 2\n"
    assert blocks[3].not_run == "needs a GPU"
    assert blocks[4].not_run == "a script, run as such"
    assert run_page(page)["y"] == 2

    page.write_text("Run this::\n\n    x = 1\n")
    with pytest.raises(AssertionError, match="line 1: a '::' literal block"):
        page_blocks(page)

    readme = tmp_path / "page.md"
    readme.write_text("# T\n\n```python\nz = 3\n```\n\n<!-- not run: network -->\n"
                      "```python\nimport urllib\n```\n\n```bash\nls\n```\n")
    assert [(b.language, b.line, b.not_run) for b in page_blocks(readme)] == [
        ("python", 4, ""), ("python", 9, "network"), ("bash", 13, "")]


def test_a_failing_doctest_fails_its_page(tmp_path):
    page = tmp_path / "page.rst"
    page.write_text(">>> 1 + 1\n3\n")
    with pytest.raises(pytest.fail.Exception, match="Expected:\n    3\nGot:\n    2"):
        run_page(page)


def test_the_docs_render_maths_without_a_network():
    conf = runpy.run_path(str(ROOT / "docs" / "conf.py"))
    assert "sphinx-mathjax-offline" in conf["extensions"]
    assert not conf["mathjax_path"].startswith(("http:", "https:", "//"))
    offline = pytest.importorskip("sphinx-mathjax-offline", reason="the docs extra")
    assert (Path(offline.__file__).parent / "static" / conf["mathjax_path"]).is_file()


# ------------------------------------------------------------------ checks after some pages
def _check_deep_template(namespace):
    """The "Writing a deep learner" learner of docs/deep.rst overrides hooks only and trains.

    Its block is the last one of the page: its names are the namespace's at the end.
    """
    from sklearn.base import clone

    cls, learner = namespace["OrdinalLearner"], namespace["learner"]
    own = {name for name in vars(cls) if not name.startswith(("__", "_sklearn"))}
    assert own == {"_train_batch_sampler", "_batch_loss"}
    assert learner.n_iter_ == 3 and np.isfinite(learner.history_[:, "train_loss"]).all()

    # the custom sampler is the one training iterates, once per epoch
    epochs = []
    sampler_iter = namespace["RandomBatches"].__iter__
    namespace["RandomBatches"].__iter__ = lambda self: epochs.append(1) or sampler_iter(self)
    X, y = namespace["X"] / 16, namespace["y"]
    again = clone(learner).fit(X, y)
    assert len(epochs) == 3
    np.testing.assert_array_equal(again.transform(X), namespace["Z"])  # seeded
    again.partial_fit(X, y)  # the template's partial_fit works for it too
    assert len(epochs) == 6 and len(again.history_) == 6


PAGE_CHECKS = {"deep.rst": _check_deep_template}
