"""How a prepared file merges: one frozen value, built once at the edge.

The edges (``fundsync load``, ``backfill``, ``release``, the message processing of the
Lambda handler and the worker) build a :class:`MergeOptions` from their flags and the
database configuration (``verify=1`` in the URL, ``FUNDSYNC_VERIFY``, ``FUNDSYNC_QUALITY``);
the merge (:mod:`loader.mysql.merge`, :mod:`loader.mysql.write`) reads its policy from it
alone, never from the session's configuration or from flags copied onto the file. What
stays on the :class:`~loader.prepare.prepared.PreparedFile` is what is a fact of the file:
its merge mode and delete cap (chosen by its key's prefix, and recorded in its request).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from loader.mysql.config import DbConfig
from loader.mysql.quality_policy import policy_of


@dataclass(frozen=True, slots=True)
class MergeOptions:
    """What is asked of the merge of every file of one run."""

    force: bool = False
    """Merge even when the latest load merged this content, asked the same way."""
    newer_wins: bool = True
    """Leave the rows a newer S3 object of the same trade dates wrote last (an original
    retried after its correction fills gaps, never overwrites); the backfill orders its
    files itself and turns this off."""
    dry_run: bool = False
    """Merge in a transaction that is rolled back: the report says what the load would do,
    nothing is written, not even the ledger (``--dry-run``)."""
    verify: bool = False
    """Prove before each commit that fund_data holds exactly the file's values."""
    quality: str = ""
    """The quality gate's policy (``check=policy,...``; empty: the defaults)."""

    def __post_init__(self) -> None:
        policy_of(self.quality)  # a typo stops here, not as a failure of every file

    @property
    def policy(self) -> dict[str, str]:
        return policy_of(self.quality)

    @property
    def gate_off(self) -> bool:
        return all(p == "off" for p in self.policy.values())

    @classmethod
    def of(cls, config: DbConfig, **flags: Any) -> MergeOptions:
        """The options ``config`` asks for (its ``verify`` and ``quality``), with ``flags``."""
        return cls(**{"verify": config.verify, "quality": config.quality, **flags})
