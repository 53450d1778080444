"""Run hostile-input reproductions in a child process, so a crash fails a test instead
of killing pytest.

The child runs under an address-space limit (a huge allocation fails fast instead of
swapping) and prints one JSON object per step: ``{"ok": result}`` or ``{"error": msg}``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any, List

# Address-space limit of the child: far above what the small reproductions need, far
# below the terabytes a corrupt size could ask for.
LIMIT_BYTES = 6 << 30

_PRELUDE = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
import numpy as np
import sqlite_quiver

def step(f):
    try:
        out = {{"ok": f()}}
    except Exception as e:  # every failure must be an ordinary exception
        out = {{"error": f"{{type(e).__name__}}: {{e}}"}}
    print(json.dumps(out, default=str), flush=True)
"""


def run_child(body: str, timeout: float = 120) -> List[Any]:
    """Runs ``body`` (Python using ``step(lambda: ...)``) in a child; returns its steps.

    Fails unless the child exits normally (no signal, no uncaught exception).
    """
    code = _PRELUDE.format(limit=LIMIT_BYTES) + textwrap.dedent(body)
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, (
        f"child exited with {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    )
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
