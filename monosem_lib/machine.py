"""What this machine can give a process now (shared by the stages that check before they allocate)."""
from __future__ import annotations

import os
from pathlib import Path


def available_memory_gb() -> float:
    """Memory the system can give a new process now (MemAvailable on Linux; free pages elsewhere), in GB."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024 / 1e9
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 1e9
