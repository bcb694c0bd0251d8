"""Sphinx configuration for skdml's documentation."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

import skdml  # noqa: E402

project = "skdml"
author = "the skdml developers"
copyright = "2026, the skdml developers"
release = skdml.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    # MathJax 3.2.2 shipped in a wheel and copied into _static/mathjax: the maths renders
    # on machines without internet (sphinx.ext.mathjax alone loads MathJax from a CDN).
    "sphinx-mathjax-offline",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

autosummary_generate = True
# Document skdml's own inherited methods (pair_distance, get_metric, ...) but not those of
# scikit-learn's bases, whose docstrings point into scikit-learn's own documentation.
autodoc_default_options = {
    "members": True,
    "inherited-members": "BaseEstimator,TransformerMixin,ClassNamePrefixFeaturesOutMixin,"
    "_SetOutputMixin,_MetadataRequester,_HTMLDocumentationLinkMixin,ReprHTMLMixin,"
    # torch's and skorch's own methods are documented by torch and skorch.
    "Module,NeuralNet,Sampler,Dataset,ClassifierMixin",
}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
# No network at build time: cross-references to sklearn stay plain text.
intersphinx_mapping = {}

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "plot_gallery": "True",
}

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "sg_execution_times.rst",
                    "bench_tables"]  # included by the pages, not pages themselves
html_theme = "alabaster"
html_static_path = []
mathjax_path = "mathjax/tex-chtml.js"  # under _static: no CDN (see extensions)
nitpicky = False


def _skip_metadata_request_setters(app, what, name, obj, skip, options):
    """scikit-learn generates ``set_<method>_request``; its docs live in scikit-learn's."""
    if name.startswith("set_") and name.endswith("_request"):
        return True
    if name in {"prefixes_", "cuda_dependent_attributes_", "init_context_"}:
        return True  # skorch's class-level bookkeeping, not fitted attributes
    return skip


def setup(app):
    app.connect("autodoc-skip-member", _skip_metadata_request_setters)
