# The two commands a newcomer needs: `make demo` and `make test`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
TORCH   := torch==2.13.0
TEXT    ?= Hello! I am a talking head. I turn speech into facial motion, and motion into video.

.PHONY: demo test bench install clean train-deps corpus
HOURS   ?= 2

$(BIN)/python:
	$(PY) -m venv $(VENV)

# torch is pinned here (a local CPU wheel); pyproject keeps a permissive range.
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e '.[test,wav2vec2]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/talkinghead speak "$(TEXT)" -o demo.mp4
	@echo "wrote demo.mp4"

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/bench.py

# Optional, for training: more natural offline voices (Debian packages) for `corpus synth`.
train-deps:
	apt-get update -qq && apt-get install -y -qq flite festival festvox-kallpc16k festvox-us-slt-hts

corpus: $(STAMP)
	$(BIN)/talkinghead corpus synth -o corpus --hours $(HOURS) --workers 2

clean:
	rm -rf $(VENV) demo.mp4 .pytest_cache
