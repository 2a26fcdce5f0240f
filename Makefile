# The two commands a newcomer needs: `make book` and `make test`.
# Everything is installed into .venv from pyproject.toml's pinned `dev` extra.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
JOBS ?= 2
BUILD_FLAGS ?=

.PHONY: help venv book book-zh pot po test-build-zh colab check test-changed test test-lib test-fast lint test-injected test-notebooks test-gpu test-student test-build test-editions notebooks timings serve clean

help:
	@echo "make book   - set up .venv, execute every chapter, build the website into _build/html and the notebook editions (make colab)"
	@echo "make test   - set up .venv; package tests; strict book build; notebook editions checked (and opened in JupyterLab); the Colab and student editions run as in Colab (package alone, outside the repo); browser checks of the site; every chapter run twice (determinism); GPU check (skipped without a GPU)"
	@echo "make pdf    - the PDF of the book in _build/pdf/book.pdf (after make book; Debian's TeX, installed with apt when missing)"
	@echo "make colab  - render the Colab edition (_build/colab) and the student edition (_build/student) from the built book"
	@echo "make lint   - the project's policies (pins, CI command, devices, seeding), each with its verdict"
	@echo "make test-fast - the package and book-level tests without those marked slow (the inner loop)"
	@echo "make test-injected - inject one bug of each kind into a scratch copy; the tests must catch each (a few minutes)"
	@echo "make check CHAPTER=book/<part>/<file>.md - the loop for one chapter (about 3 minutes)"
	@echo "make notebooks - regenerate notebooks/*.ipynb (and badges) from book/*.md"
	@echo "make timings   - time each chapter on its own; writes book/appendix/timings.csv"
	@echo "make serve     - serve _build/html on http://127.0.0.1:8000"
	@echo "make po        - extract the English messages and update the Chinese catalogs (locales/zh_CN)"
	@echo "make book-zh   - the Chinese edition (part of make book), from the catalogs and the executed cache, into _build/html/zh"

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	$(PY) -m pip check
	touch $@

venv: $(STAMP)

# The execution cache forgets a chapter once an nnbook module it uses has changed
# (tools/cache_guard.py): `drop` before a build, `record` after it, even a failed one.
GUARDED = $(PY) tools/cache_guard.py drop && { $(1); status=$$?; $(PY) tools/cache_guard.py record; exit $$status; }

book: $(STAMP)
	$(call GUARDED,$(VENV)/bin/jupyter-book build . $(BUILD_FLAGS))
	$(MAKE) --no-print-directory book-zh
	$(PY) tools/editions.py
	@echo
	@echo "The book is built. Open: file://$(CURDIR)/_build/html/index.html (中文版: _build/html/zh/index.html)"

# The Chinese edition (locales/zh_CN, tools/i18n.py). `make po` extracts the English messages (the
# gettext builder over the executed cache, and the quizzes' texts) and updates the catalogs; `make book-zh`
# builds the Chinese site from the same cache (nothing executes again) in _build/zh, publishes it beside the
# English one as _build/html/zh, and renders its notebook editions (_build/colab/zh, _build/student/zh).
I18N_WORK := _build/i18n
ZH_WORK := _build/zh
PUBLISH_ZH = rm -rf _build/html/zh && mkdir -p _build/html && cp -r $(ZH_WORK)/_build/html _build/html/zh
LINK_CACHE = mkdir -p _build/.jupyter_cache $(1)/_build && ln -sfn ../../.jupyter_cache $(1)/_build/.jupyter_cache
pot: $(STAMP)
	$(call LINK_CACHE,$(I18N_WORK))
	$(call GUARDED,$(VENV)/bin/jupyter-book build . --builder custom --custom-builder gettext --path-output $(I18N_WORK) --all $(BUILD_FLAGS))
	$(PY) tools/i18n.py quiz-pot $(I18N_WORK)/_build/gettext

po: pot
	$(VENV)/bin/sphinx-intl update -p $(I18N_WORK)/_build/gettext -l zh_CN -d locales
	$(PY) tools/i18n.py terms

book-zh: $(STAMP)
	$(PY) tools/i18n.py config
	$(call LINK_CACHE,$(ZH_WORK))
	$(call GUARDED,$(VENV)/bin/jupyter-book build . --config $(ZH_WORK)/_config.yml --path-output $(ZH_WORK) $(BUILD_FLAGS))
	$(PUBLISH_ZH)
	$(PY) tools/editions.py --lang zh
	@echo "The Chinese edition is built. Open: file://$(CURDIR)/_build/html/zh/index.html"

# The Chinese edition, strict like test-build, and its catalogs checked against the English pages.
test-build-zh: $(STAMP) pot
	$(PY) tools/i18n.py config
	$(call LINK_CACHE,$(ZH_WORK))
	$(call GUARDED,$(VENV)/bin/jupyter-book build . --config $(ZH_WORK)/_config.yml --path-output $(ZH_WORK) --all -W -n --keep-going $(BUILD_FLAGS))
	$(PUBLISH_ZH)
	$(PY) tools/editions.py --lang zh
	$(PY) -m pytest -q tests/i18n

# The notebooks a reader opens, rendered from the built website (tools/editions.py): the Colab
# edition (_build/colab: what every badge opens) and the student edition (_build/student).
colab: $(STAMP)
	$(PY) tools/editions.py $(CHAPTERS)

notebooks: $(STAMP)
	cd tools && ../$(PY) sync_chapters.py $(CHAPTERS) && ../$(PY) glossary.py && ../$(PY) exercise_index.py

# The loop for one chapter (tools/check_chapter.py): its modules' tests, the chapter executed once
# in a private strict build, its Colab edition run as in Colab, the browser checks of its page.
check: $(STAMP) chromium bubblewrap
	@test -n "$(CHAPTER)" || { echo "usage: make check CHAPTER=book/<part>/<file>.md"; exit 2; }
	$(PY) tools/check_chapter.py $(CHAPTER)

# The same for every chapter that the diff against main touches (its source, or a module it uses).
BASE ?= main
test-changed: $(STAMP) chromium bubblewrap
	$(PY) tools/check_chapter.py --changed $(BASE)

test-lib: $(STAMP) bubblewrap
	$(PY) -m pytest -q -n $(JOBS) tests

# The inner loop: the same tests without those marked slow (over about 5 s each).
test-fast: $(STAMP) bubblewrap
	$(PY) -m pytest -q -n $(JOBS) -m "not slow" tests

# The project's policies (tools/lint.py): pins, CI command, no hard-coded device, seeding,
# the branch the badges open. Reads files only: a few seconds; first in `make test`.
lint: $(STAMP)
	$(PY) tools/lint.py

# Proof that the tests catch bugs: each injected bug (tools/inject_bugs.py) goes into a scratch
# copy of the repository, alone, and the tests that should catch it must fail. Not in `make test`.
test-injected: $(STAMP)
	$(PY) tools/inject_bugs.py

# The Colab edition, the way Colab runs it: the package alone, installed non-editable into a
# clean venv; each notebook copied outside the repository and executed there by nbval.
test-notebooks: $(STAMP)
	$(PY) tools/colab_check.py -n $(JOBS) _build/colab

# Every notebook on the GPU, when there is one; says SKIPPED (never "passed") when there is none.
test-gpu: $(STAMP)
	@$(PY) tools/gpu_check.py; status=$$?; \
	if [ $$status -eq 77 ]; then echo "make test-gpu: SKIPPED (no CUDA device here)"; else exit $$status; fi

# The strict website build, then both notebook editions rendered from it.
test-build: $(STAMP)
	$(call GUARDED,$(VENV)/bin/jupyter-book build . --all -W -n --keep-going $(BUILD_FLAGS))
	$(PY) tools/editions.py

# The rendered editions against the built pages (no MyST left, every glued value as on the page,
# links resolve, solutions folded or gone), then opened in JupyterLab in headless Chromium.
test-editions: $(STAMP) chromium
	NNBOOK_CHROMIUM=$(CHROMIUM) $(PY) -m pytest -q -n $(JOBS) tests/editions

# The student edition, run top to bottom in the Colab situation (unfinished exercises say so and go on).
test-student: $(STAMP)
	$(PY) tools/colab_check.py -n $(JOBS) _build/student

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

test: lint test-lib test-build test-build-zh test-editions test-notebooks test-student pdf test-pdf test-browser test-determinism test-gpu
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
# (default: every chapter; COLAB=OWNER/NAME@BRANCH adds badges) renders student editions from the built
# book into student/; `make grade SUBMISSIONS=dir` writes grades/grades.csv (each submission under bubblewrap).
SUBMISSIONS ?= submissions
GRADES ?= grades/grades.csv
.PHONY: student grade
student: $(STAMP)
	@test -f _build/html/index.html || $(MAKE) --no-print-directory book
	$(PY) tools/editions.py --student --out student $(if $(COLAB),--colab $(COLAB)) $(CHAPTERS)

grade: $(STAMP) bubblewrap
	$(PY) -m nnbook.teaching grade $(SUBMISSIONS) --out $(GRADES) $(if $(CHAPTER),--chapter $(CHAPTER))

# An nbgrader course source (book/part0/teaching.md) in nbgrader/: one assignment per chapter with coding
# exercises (CHAPTERS= some of them); then, in nbgrader/: nbgrader generate_assignment / autograde / generate_feedback.
.PHONY: nbgrader
nbgrader: $(STAMP)
	$(PY) -m nnbook.teaching nbgrader --out nbgrader $(CHAPTERS)

# The grader runs each submission under bubblewrap (bwrap; book/part0/teaching.md), installed with apt when
# missing and running as root, like Chromium.
.PHONY: bubblewrap
bubblewrap:
	@if ! command -v bwrap >/dev/null; then \
	  if [ "$$(id -u)" != 0 ]; then \
	    echo "No bubblewrap (bwrap): grading needs it. Install it as root: apt-get update && apt-get install -y bubblewrap"; \
	    echo "(Fedora: dnf install bubblewrap)"; \
	    exit 1; \
	  fi; \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y bubblewrap; \
	fi

# A class of fabricated submissions (right, wrong, broken, untouched) of the heaviest chapter (*_comparison.md), graded the fast
# way; prints submissions per second. COUNT=200 JOBS=2 by default; FULL=1 runs every cell, for comparison.
COUNT ?= 200
.PHONY: bench-grade
bench-grade: $(STAMP) bubblewrap
	$(PY) tools/bench_grade.py --count $(COUNT) --jobs $(JOBS) $(if $(FULL),--full) $(if $(CHAPTER),--chapter $(CHAPTER))

# ---------------------------------------------------------------------------------------
# The PDF: `make pdf` writes _build/pdf/book.pdf (Sphinx's LaTeX builder + xelatex, Debian's TeX
# and fonts, installed with apt when missing and running as root); `make test-pdf` checks it.
# It reuses the executed cache of `make book` (_build/.jupyter_cache): nothing is re-executed
# when the cache is current. LaTeX settings: `latex:` and `sphinx.config.latex_*` in _config.yml,
# LaTeX-only transforms (solutions at the end, badges, long tables): _ext/nnbook_pdf.py.
TEXLIVE_PACKAGES := texlive-xetex texlive-latex-extra texlive-lang-chinese texlive-fonts-recommended \
  latexmk poppler-utils fonts-noto-cjk fonts-freefont-otf fonts-dejavu-core fonts-symbola
PDF_WORK := _build/pdf-work
.PHONY: texlive pdf test-pdf
texlive:
	@missing=; \
	for tool in xelatex latexmk kpsewhich pdftotext pdfinfo fc-list; do command -v $$tool >/dev/null || missing="$$missing $$tool"; done; \
	if [ -z "$$missing" ]; then \
	  kpsewhich xeCJK.sty >/dev/null || missing="$$missing xeCJK.sty"; \
	  for font in "Noto Serif CJK SC" "Noto Sans Mono CJK SC" FreeSerif "DejaVu Sans Mono" Symbola; do \
	    fc-list -q "$$font" || missing="$$missing font:$$font"; done; \
	fi; \
	if [ -n "$$missing" ]; then \
	  echo "make texlive: missing:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then \
	    echo "Install them as root: apt-get update && apt-get install -y --no-install-recommends $(TEXLIVE_PACKAGES)"; \
	    exit 1; \
	  fi; \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(TEXLIVE_PACKAGES); \
	fi

pdf: $(STAMP) texlive
	@start=$$(date +%s); \
	mkdir -p _build/.jupyter_cache $(PDF_WORK)/_build _build/pdf; \
	if [ ! -e _build/.jupyter_cache/global.db ]; then \
	  echo "make pdf: no executed cache in _build/.jupyter_cache (run 'make book' first): the chapters will be executed now"; fi; \
	[ -L $(PDF_WORK)/_build/.jupyter_cache ] || { rm -rf $(PDF_WORK)/_build/.jupyter_cache; ln -s ../../.jupyter_cache $(PDF_WORK)/_build/.jupyter_cache; }; \
	$(PY) tools/cache_guard.py drop || exit 1; \
	$(VENV)/bin/jupyter-book build . --builder latex --path-output $(PDF_WORK) $(BUILD_FLAGS); status=$$?; \
	$(PY) tools/cache_guard.py record; [ $$status = 0 ] || exit 1; \
	cd $(PDF_WORK)/_build/latex || exit 1; \
	if ! latexmk -pdf -dvi- -ps- -interaction=nonstopmode -halt-on-error book.tex > latexmk.log 2>&1; then \
	  tail -40 latexmk.log; echo "make pdf: xelatex failed; the log is $(PDF_WORK)/_build/latex/book.log"; exit 1; fi; \
	if grep -q "Missing character" book.log; then \
	  grep "Missing character" book.log | sort | uniq -c; \
	  echo "make pdf: glyphs missing from the fonts (see above); map them in _config.yml's latex_elements"; exit 1; fi; \
	cd $(CURDIR) && cp $(PDF_WORK)/_build/latex/book.pdf _build/pdf/book.pdf; \
	pages=$$(pdfinfo _build/pdf/book.pdf | awk '/^Pages:/ {print $$2}'); \
	size=$$(du -b _build/pdf/book.pdf | awk '{printf "%.1f", $$1/1e6}'); \
	echo "make pdf: _build/pdf/book.pdf — $$pages pages, $$size MB, built in $$(( $$(date +%s) - start )) s"

test-pdf: $(STAMP) texlive
	$(PY) tools/pdf_check.py _build/pdf/book.pdf
