"""Check a Terraform plan against the project's policies (infra/policies/*.rego).

    terraform plan -out=plan.bin && terraform show -json plan.bin > plan.json
    .venv/bin/python infra/check_plan.py plan.json      # or: ./dev just infra-plan dev

Prints each deny and warn message; exit status 1 when any deny rule fired (the plan must
not be applied), 0 otherwise (warnings are printed, not blocking), 2 when the input or the
Rego engine is missing. The engine is regopy (rego-cpp, from PyPI), a dev dependency; the
policies are plain Rego v1, so ``opa eval -d infra/policies -i plan.json
'data.fundsync.terraform'`` gives the same answer where OPA is installed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

POLICIES = Path(__file__).resolve().parent / "policies"
QUERY = "deny := data.fundsync.terraform.deny; warn := data.fundsync.terraform.warn"


def evaluate(plan: dict, policies: Path = POLICIES) -> tuple[list[str], list[str]]:
    """The policies' deny and warn messages for a plan (``terraform show -json``), sorted."""
    from regopy import Interpreter

    rego = Interpreter()
    modules = sorted(policies.glob("*.rego"))
    if not modules:
        raise FileNotFoundError(f"no .rego policies in {policies}")
    for module in modules:
        rego.add_module(module.stem, module.read_text())
    rego.set_input(plan)
    output = json.loads(str(rego.query(QUERY)))
    bindings = output["bindings"]
    return sorted(bindings["deny"]), sorted(bindings["warn"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="check_plan.py", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("plan", type=Path, help="terraform show -json output of a plan")
    parser.add_argument("--policies", type=Path, default=POLICIES, help="folder of .rego files")
    args = parser.parse_args(argv)
    try:
        plan = json.loads(args.plan.read_text())
    except (OSError, ValueError) as error:
        print(f"check_plan: cannot read the plan {args.plan}: {error}", file=sys.stderr)
        return 2
    if "resource_changes" not in plan and "planned_values" not in plan:
        print(f"check_plan: {args.plan} is not a plan (terraform show -json PLAN)", file=sys.stderr)
        return 2
    try:
        deny, warn = evaluate(plan, args.policies)
    except ImportError:
        print(
            "check_plan: regopy is not installed (it is a dev dependency: ./dev)", file=sys.stderr
        )
        return 2
    except FileNotFoundError as error:
        print(f"check_plan: {error}", file=sys.stderr)
        return 2
    for message in deny:
        print(f"DENY  {message}")
    for message in warn:
        print(f"WARN  {message}")
    changes = len(plan.get("resource_changes", []))
    print(
        f"{len(deny)} denied, {len(warn)} warnings over {changes} resource changes: "
        + ("do not apply" if deny else "policies pass")
    )
    return 1 if deny else 0


if __name__ == "__main__":
    sys.exit(main())
