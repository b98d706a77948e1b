#!/usr/bin/env bash
# The infrastructure planned offline: no AWS credentials, no state backend, no network
# (the hashicorp/aws provider from the filesystem mirror: /opt/tf-plugins, or
# TF_PLUGIN_MIRROR). Formats-checks, validates and plans environment ENV in a scratch
# copy, then runs the Rego policy check on the plan.
#
#   infra/plan_offline.sh [ENV] [PLAN.json]      (./dev just infra-plan-offline ENV)
#
# Exit status: the policy check's (1 when a deny rule fires), 2 for an unknown environment,
# 3 when a terraform step failed (what failed and how to fix it on stderr).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
env_name="${1:-dev}"
out="${2:-}"
mirror="${TF_PLUGIN_MIRROR:-/opt/tf-plugins}"
python="${PYTHON:-$root/.venv/bin/python}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cp -R "$root/infra/terraform" "$work/terraform"
find "$work/terraform" -name .terraform -prune -exec rm -rf {} + -o -name '*.tfstate*' -exec rm -f {} +
sed "s#/opt/tf-plugins#$mirror#" "$root/infra/terraform/terraformrc" > "$work/terraformrc"
printf 'plugin_cache_dir = "%s"\n' "$work/cache" >> "$work/terraformrc"
mkdir -p "$work/cache"
export TF_CLI_CONFIG_FILE="$work/terraformrc" TF_IN_AUTOMATION=1 TF_INPUT=0 CHECKPOINT_DISABLE=1

dir="$work/terraform/environments/$env_name"
[ -d "$dir" ] || { echo "plan_offline: no environment $env_name under infra/terraform/environments" >&2; exit 2; }
cat > "$dir/provider_override.tf" <<'HCL'
provider "aws" {
  access_key                  = "offline"
  secret_key                  = "offline"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
}
HCL
printf 'terraform {\n  backend "local" {}\n}\n' > "$dir/backend_override.tf"

# Each step says what failed and how to fix it (a step's own output only when it fails).
step() {
  local what="$1" fix="$2"; shift 2
  local log="$work/step.log"
  if ! "$@" >"$log" 2>&1; then
    echo "plan_offline: $what failed:" >&2
    sed 's/^/  /' "$log" >&2
    echo "plan_offline: $fix" >&2
    exit 3
  fi
}
step "terraform fmt -check (these files are not formatted)" \
  "run: terraform fmt -recursive infra/terraform" \
  terraform fmt -check -recursive -list=true "$root/infra/terraform"
step "terraform init" "is the AWS provider in $mirror (TF_PLUGIN_MIRROR)?" \
  terraform -chdir="$dir" init -input=false -no-color
step "terraform validate" "fix the configuration as the messages above say" \
  terraform -chdir="$dir" validate -no-color
step "terraform plan" "fix the configuration or the tfvars as the messages above say" \
  terraform -chdir="$dir" plan -input=false -no-color -out=plan.bin
terraform -chdir="$dir" show -json plan.bin > "$work/plan.json"
[ -z "$out" ] || cp "$work/plan.json" "$out"
echo "plan_offline: $env_name formatted, valid and planned offline; the policy check:"
"$python" "$root/infra/check_plan.py" "$work/plan.json"
