# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: run test lint format bench chaos migrate seed demo link clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall whenever a requirements file changes.
$(STAMP): $(BIN)/python requirements.txt requirements-dev.txt
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

migrate: $(STAMP)
	$(BIN)/python manage.py migrate --noinput

seed: migrate
	$(BIN)/python manage.py seed_demo

# A demo campaign through the seven gates, the simulator and its signed status callbacks
# (once; `manage.py demo_campaign --tenant demo --contacts N` runs another whenever you like).
demo: seed
	$(BIN)/python manage.py demo_campaign --tenant demo --contacts 200 --once

link: $(STAMP)
	@echo
	@echo "Sign in as demo@example.com (single use, 15 minutes):"
	@$(BIN)/python manage.py magic_link demo@example.com
	@echo

# Web (http://127.0.0.1:8000), worker and beat in one terminal; Ctrl-C stops all three.
run: demo
	@$(MAKE) --no-print-directory link
	$(BIN)/honcho start -f Procfile.dev

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# The fault-injection suite at CI size (bench/chaos): needs PostgreSQL and redis-server.
chaos: $(STAMP)
	$(BIN)/python bench/run.py chaos

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
