"""The quality gate's policies (:mod:`loader.mysql.quality`), without its dataframes: the
database settings validate a policy where they are read, before any file is tried."""

from __future__ import annotations

from loader.errors import ConfigError

POLICIES = ("off", "warn", "hold")
DEFAULTS = {
    "funds_missing": "hold",
    "funds_new": "warn",
    "rows_per_fund": "warn",
    "nulls": "warn",
    "texts": "warn",
    "duplicates": "warn",
    "jumps": "warn",
    "total_rows": "warn",
}


def policy_of(spec: str) -> dict[str, str]:
    """The policy per check: the defaults, then ``spec`` (``check=policy,...``; ``all=off``
    sets every check)."""
    policy = dict(DEFAULTS)
    for item in filter(None, (part.strip() for part in spec.split(","))):
        check, _, value = item.partition("=")
        check, value = check.strip(), value.strip().lower()
        if value not in POLICIES or (check != "all" and check not in DEFAULTS):
            raise ConfigError(
                f"quality {item!r}: use CHECK=off|warn|hold, CHECK one of "
                f"{', '.join(DEFAULTS)} or all"
            )
        policy.update(dict.fromkeys(DEFAULTS, value) if check == "all" else {check: value})
    return policy
