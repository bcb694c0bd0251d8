# Two commands on a fresh machine (see README.md):
#   make demo   -- set up .venv and run the demo on sklearn's bundled digits
#   make test   -- set up .venv and run the test suite
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.skdml-installed
PEERS  := .venv-peers
JOBS   ?= 2

.PHONY: demo test docs bench peers clean

# torch==2.13.0 first: it is the CPU build that lies on this machine's disk. Installing the
# package afterwards finds `torch>=2.3` satisfied, so no CUDA wheels are ever pulled.
# The tests exercise every extra (deep, cvx, plot, io, distributed: `all`) and the docs.
$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[all,test,docs]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m skdml demo --output skdml_demo.png

test: $(STAMP)
	$(PY) -m pytest -n $(JOBS) -p no:cacheprovider

docs: $(STAMP)
	$(MAKE) -C docs html SPHINXBUILD=$(abspath $(VENV))/bin/sphinx-build

bench: $(STAMP) $(PEERS)/.installed
	SKDML_PEER_PYTHON=$(abspath $(PEERS))/bin/python $(PY) -m skdml benchmark --write-docs all
	$(PY) benchmarks/reliability_report.py --write-docs

clean:
	rm -rf $(VENV) build *.egg-info docs/_build docs/auto_examples docs/generated

# Peers for the benchmarks, in their own venv: metric-learn 0.7.0 needs scikit-learn < 1.6;
# faiss-cpu (Hamming search), mlpack (C++ LMNN) and pytorch-metric-learning (deep losses, on
# the CPU torch 2.13.0 installed first) come along.
# Benchmarks find it through SKDML_PEER_PYTHON (set by `make bench`) and say so when absent.
$(PEERS)/.installed:
	$(PYTHON) -m venv $(PEERS)
	$(PEERS)/bin/pip install --quiet --upgrade pip
	$(PEERS)/bin/pip install --quiet torch==2.13.0
	$(PEERS)/bin/pip install --quiet 'scikit-learn<1.6' 'metric-learn==0.7.0' faiss-cpu mlpack \
	  'pytorch-metric-learning==2.9.0' 'numpy<2.3'
	touch $@

peers: $(PEERS)/.installed
