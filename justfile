# fund-data-sync tasks. `./dev just <recipe>` works without just installed.

default:
    @just --list

# fast tests: no database, no AWS emulation
test-unit *ARGS:
    .venv/bin/python -m pytest -m "not db and not aws" {{ARGS}}

# tests that need a real MariaDB/MySQL server
test-db *ARGS:
    .venv/bin/python -m pytest -m db {{ARGS}} || [ $? -eq 5 ]

# tests that need AWS emulation (moto in-process, or moto's server end to end)
test-aws *ARGS:
    .venv/bin/python -m pytest -m aws {{ARGS}} || [ $? -eq 5 ]

# every test (what CI runs)
test *ARGS:
    .venv/bin/python -m pytest {{ARGS}}

# side by side with the peers and the LOAD DATA ceiling (1M rows; --big for 10M, --repeat N)
bench *ARGS:
    .venv/bin/python bench/compare.py {{ARGS}}

# micro-benchmarks per stage (decode, parse, dedup, staging write, LOAD DATA, merge), saved;
# compare with the previous run: just bench-stages --benchmark-compare
bench-stages *ARGS:
    .venv/bin/python -m pytest bench -p no:cacheprovider --benchmark-only --benchmark-autosave --benchmark-storage=bench/results/pytest-benchmark {{ARGS}}

# parse-stage throughput and peak memory at scale (default 1M and 10M rows)
bench-parse *ROWS="1000000 10000000":
    .venv/bin/python bench/parse_scale.py --rows {{ROWS}}

# load path vs the raw LOAD DATA ceiling, both key layouts, one throwaway server
bench-load ROWS="1000000":
    .venv/bin/python bench/load_bench.py --rows {{ROWS}}

# backfill throughput: 30 daily files of 200k rows vs one by one and the ceiling
bench-backfill *ARGS:
    .venv/bin/python bench/backfill_bench.py {{ARGS}}

# staging text through the named pipe vs through a file first: alternating A/B, one server
bench-staging *ARGS:
    .venv/bin/python bench/staging_ab.py {{ARGS}}

# reading back from a 10M-row fund_data: get_by_source by key range vs scan vs an index, get_by_ticker
bench-read *ARGS:
    .venv/bin/python bench/read_bench.py {{ARGS}}

# years of history: a day's load and the operator's views on 5M/20M/50M rows (docs/benchmarks.md)
bench-history *ARGS:
    .venv/bin/python bench/history.py {{ARGS}}

# the table layout: one table vs a partition a trade date, on the history benchmark's table
bench-layout *ARGS:
    .venv/bin/python bench/layout.py {{ARGS}}

# a fresh day in one LOAD DATA stream, in two (two commits), in two to staging then one copy
bench-streams *ARGS:
    .venv/bin/python bench/streams.py {{ARGS}}

# Lambda image: cold import and first invocation in fresh processes, installed size
bench-lambda RUNS="11":
    .venv/bin/python bench/lambda_cold_start.py --runs {{RUNS}}

# the Lambda path: first and second invocation of the installed handler, history in the table
bench-invocations *ARGS:
    .venv/bin/python bench/lambda_invocations.py {{ARGS}}

# the fixed cost of a `fundsync load` process (one-row file) beside python, polars and the client
bench-fixed *ARGS:
    .venv/bin/python bench/fixed_cost.py {{ARGS}}

# docs/runbook.md: init (state backend from backend-ENV.hcl) and plan to plan.bin;
# terraform init, plan and the policy check (infra/policies): a denied plan fails here
infra-plan ENV="dev" *ARGS:
    cd infra/terraform/environments/{{ENV}} && terraform init -input=false -backend-config=../backend-{{ENV}}.hcl
    cd infra/terraform/environments/{{ENV}} && terraform plan -input=false -out=plan.bin {{ARGS}}
    cd infra/terraform/environments/{{ENV}} && terraform show -json plan.bin > plan.json
    .venv/bin/python infra/check_plan.py infra/terraform/environments/{{ENV}}/plan.json

# offline: formatted, validated and planned with no credentials (the provider mirror), then
# the policy check; nothing is applied
infra-plan-offline ENV="dev":
    infra/plan_offline.sh {{ENV}}

# apply the plan that infra-plan made and checked (nothing else)
infra-apply ENV="dev":
    .venv/bin/python infra/check_plan.py infra/terraform/environments/{{ENV}}/plan.json
    cd infra/terraform/environments/{{ENV}} && terraform apply -input=false plan.bin

# Terraform formatted, valid and policy-checked offline, and the live apply to moto
test-infra *ARGS:
    .venv/bin/python -m pytest tests/test_infra.py {{ARGS}}

# ruff, and the architecture contract (import-linter, configured in pyproject.toml)
lint:
    .venv/bin/ruff check loader tests bench infra
    .venv/bin/ruff format --check loader tests bench infra
    .venv/bin/lint-imports

fmt:
    .venv/bin/ruff format loader tests bench infra
    .venv/bin/ruff check --fix loader tests bench infra

typecheck:
    .venv/bin/mypy

check: lint typecheck test
