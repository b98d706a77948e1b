"""fund-data-sync: SQL Server fund-data exports into Aurora MySQL, exactly and fast.

The library is the product; ``fundsync`` and the Lambda handler are thin
entry points over it. Start with :func:`loader.parse.parse_file`.
"""

from __future__ import annotations

import os

# Polars' allocator keeps freed pages for 10 s by default, so a loader that
# parses one big file piece by piece counts the garbage of every piece in its
# peak memory. 200 ms returns it while the parse runs yet still reuses pages
# between pieces (0 ms would fault fresh pages in all the time: 15-20 %
# slower). Measured in bench/parse_scale.py; the caller's setting wins.
os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:200,muzzy_decay_ms:0")

__version__ = "0.1.0"
