#!/usr/bin/env bash
# The infrastructure planned offline: no AWS credentials, no state backend, no network
# (the hashicorp/aws provider from the filesystem mirror: /opt/tf-plugins, or
# TF_PLUGIN_MIRROR). Formats-checks, validates and plans environment ENV in a scratch
# copy, then runs the Rego policy check on the plan.
#
#   infra/plan_offline.sh [ENV] [PLAN.json]      (./dev just infra-plan-offline ENV)
#
# Exit status: the policy check's (1 when a deny rule fires), or terraform's.
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

terraform fmt -check -recursive "$root/infra/terraform" >/dev/null
terraform -chdir="$dir" init -input=false -no-color >/dev/null
terraform -chdir="$dir" validate -no-color >/dev/null
terraform -chdir="$dir" plan -input=false -no-color -out=plan.bin >/dev/null
terraform -chdir="$dir" show -json plan.bin > "$work/plan.json"
[ -z "$out" ] || cp "$work/plan.json" "$out"
echo "plan_offline: $env_name formatted, valid and planned offline; the policy check:"
"$python" "$root/infra/check_plan.py" "$work/plan.json"
