# Two commands do all set-up on a fresh machine with python3 (3.10-3.13) and make:
#   make book   build the HTML book, executing every chapter, to _build/html/index.html
#   make test   run the library's tests and every chapter in fast mode (MER_FAST=1)
# and, for teaching, the two editions of the book (tools/course_builds.py):
#   make student     _build/student/: notebooks without solutions, their HTML (Colab: branch student)
#   make instructor  _build/instructor/: solutions shown, a guide per chapter, their HTML
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: book test venv sync clean bench check-html student instructor compiled

venv: $(STAMP)

# The stamp is remade whenever the dependency list changes. uv (from PyPI, into the venv) installs what pip would,
# the same releases, downloading and compiling in parallel: 54 s against pip's 122 s on a 2-core machine. Where uv
# cannot be installed or cannot install them, pip does, and says so.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	{ $(PY) -m pip install --quiet uv \
	  && $(VENV)/bin/uv pip install --python $(PY) --quiet --compile-bytecode -e '.[all]'; } \
	  || { echo "make: uv could not install the packages; pip installs them"; \
	       $(PY) -m pip install --quiet --progress-bar off -e '.[all]'; }
	touch $(STAMP)

# MER_BOOK_BUILD=1: chapters create no widget and show static figures (tools/mer_build.py,
# which the build loads from _config.yml, sets it too).
book: $(STAMP) compiled
	MER_BOOK_BUILD=1 $(VENV)/bin/jupyter-book build . --warningiserror --keep-going
	@echo "The book is at _build/html/index.html"

test: $(STAMP) compiled
	$(PY) -m pytest

# The library's, the tools' and the tests' bytecode, written once (under a second): every process the book and the
# tests start (kernels, workers, the command's subprocesses) reads it instead of compiling the sources again, which
# each does when PYTHONDONTWRITEBYTECODE is set (as on some CI runners). Only files changed since are recompiled.
compiled: $(STAMP)
	$(PY) -m compileall -q mer_lib tools tests

# Open every page of the built book (make book first) in headless Chromium and check
# outputs, figures, math, launch buttons and collapsed solutions; screenshots go to
# _build/screenshots/. Not part of `make test`. Installs Debian's chromium when missing.
check-html: $(STAMP)
	@command -v chromium >/dev/null 2>&1 || { apt-get update && apt-get install -y chromium chromium-driver; }
	$(PY) -m pip install --quiet -e '.[html]'
	$(PY) tools/check_html.py --chromium "$$(command -v chromium)"

# The student and instructor editions: notebooks, _config.yml, _toc.yml and the HTML
# rendered without executing (seconds). STUDENT_BRANCH / INSTRUCTOR_BRANCH: the branch each
# edition is published on, which its Colab buttons open (README, "For instructors").
STUDENT_BRANCH    ?= student
INSTRUCTOR_BRANCH ?= instructor

student: $(STAMP)
	$(PY) tools/course_builds.py student --branch $(STUDENT_BRANCH) --html

instructor: $(STAMP)
	$(PY) tools/course_builds.py instructor --branch $(INSTRUCTOR_BRANCH) --html

# Rewrite every chapter's .ipynb from its .md (after editing a chapter).
sync: $(STAMP)
	$(PY) tools/sync_chapters.py

bench: $(STAMP)
	$(PY) -m pip install --quiet -e '.[bench]'
	for b in benchmarks/bench_*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf _build
