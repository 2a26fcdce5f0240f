# The two commands a newcomer needs: `make book` and `make test`.
# Everything is installed into .venv from pyproject.toml's pinned `dev` extra.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
JOBS ?= 2
BUILD_FLAGS ?=

.PHONY: help venv book test test-lib test-notebooks test-gpu test-student test-build notebooks timings serve clean

help:
	@echo "make book   - set up .venv, execute every chapter, build the website into _build/html"
	@echo "make test   - set up .venv; package tests; every notebook run as in Colab (package alone, outside the repo); student editions; strict book build; browser checks of the site; every chapter run twice (determinism); GPU check (skipped without a GPU)"
	@echo "make notebooks - regenerate notebooks/*.ipynb (and badges) from book/*.md"
	@echo "make timings   - time each chapter on its own; writes book/appendix/timings.csv"
	@echo "make serve     - serve _build/html on http://127.0.0.1:8000"

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	$(PY) -m pip check
	touch $@

venv: $(STAMP)

book: $(STAMP)
	$(VENV)/bin/jupyter-book build . $(BUILD_FLAGS)
	@echo
	@echo "The book is built. Open: file://$(CURDIR)/_build/html/index.html"

notebooks: $(STAMP)
	cd tools && ../$(PY) sync_chapters.py $(CHAPTERS) && ../$(PY) glossary.py && ../$(PY) exercise_index.py

test-lib: $(STAMP)
	$(PY) -m pytest -q -n $(JOBS) tests

# Every notebook, the way Colab runs it: the package alone, installed non-editable into a
# clean venv; each notebook copied outside the repository and executed there by nbval.
test-notebooks: $(STAMP)
	$(PY) tools/colab_check.py -n $(JOBS)

# Every notebook on the GPU, when there is one; says SKIPPED (never "passed") when there is none.
test-gpu: $(STAMP)
	@$(PY) tools/gpu_check.py; status=$$?; \
	if [ $$status -eq 77 ]; then echo "make test-gpu: SKIPPED (no CUDA device here)"; else exit $$status; fi

test-build: $(STAMP)
	$(VENV)/bin/jupyter-book build . --all -W -n --keep-going $(BUILD_FLAGS)

test-student: $(STAMP)
	rm -rf _build/student
	$(PY) -m nnbook.teaching student --out _build/student
	OMP_NUM_THREADS=1 $(PY) -m pytest -q -n $(JOBS) --dist loadscope --nbval-lax _build/student

# Drive headless Chromium over the built site (tests/browser): math typeset, images,
# animations, solution dropdowns, internal links, search; screenshots in _build/screenshots/.
CHROMIUM ?= /usr/bin/chromium
chromium:
	@if [ ! -x "$(CHROMIUM)" ]; then \
	  if [ "$(CHROMIUM)" != /usr/bin/chromium ]; then echo "No Chromium at CHROMIUM=$(CHROMIUM)"; exit 1; fi; \
	  if [ "$$(id -u)" != 0 ]; then \
	    echo "No Chromium at $(CHROMIUM). Install it as root: apt-get update && apt-get install -y chromium fonts-noto-cjk"; \
	    echo "(or run make with CHROMIUM=/path/to/chromium). Playwright's own browser download is not used."; \
	    exit 1; \
	  fi; \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium fonts-noto-cjk; \
	fi

test-browser: $(STAMP) chromium
	NNBOOK_CHROMIUM=$(CHROMIUM) $(PY) -m pytest -q -n $(JOBS) --dist loadgroup tests/browser

test: test-lib test-notebooks test-student test-build test-browser test-determinism test-gpu
	@echo "make test: all checks passed"

# Execute every chapter twice (JOBS at a time, OMP_NUM_THREADS=1) and compare the text outputs;
# cells tagged `timing` are exempt.
.PHONY: test-determinism
test-determinism: $(STAMP)
	JOBS=$(JOBS) $(PY) tools/determinism.py

timings: $(STAMP)
	$(PY) tools/timings.py

serve:
	@echo "Serving http://127.0.0.1:8000 (Ctrl-C to stop)"
	cd _build/html && python3 -m http.server 8000 --bind 127.0.0.1

clean:
	rm -rf _build

# Teaching tools (book/part0/teaching.md): `make student CHAPTERS="book/part1_static/02_mlp_backprop.md"`
# (default: every chapter) writes student/; `make grade SUBMISSIONS=dir` writes grades/grades.csv.
SUBMISSIONS ?= submissions
GRADES ?= grades/grades.csv
.PHONY: student grade
student: $(STAMP)
	$(PY) -m nnbook.teaching student --out student $(CHAPTERS)

grade: $(STAMP)
	$(PY) -m nnbook.teaching grade $(SUBMISSIONS) --out $(GRADES) $(if $(CHAPTER),--chapter $(CHAPTER))
