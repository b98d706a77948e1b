"""fund-data-sync: SQL Server fund-data exports into Aurora MySQL, exactly and fast.

The library is the product; ``fundsync`` and the Lambda handler are thin
entry points over it. Start with :func:`loader.parse.parse_file`.
"""

from __future__ import annotations

import os

# Polars' allocator keeps freed pages for 10 s by default; a loader that
# parses one big file and then holds its rows would count them twice in its
# peak memory. Return them at once unless the caller has configured it.
os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:0,muzzy_decay_ms:0")

__version__ = "0.1.0"
