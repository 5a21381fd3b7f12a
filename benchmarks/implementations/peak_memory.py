"""A process's peak resident memory, as the kernel counts it from the process's own start.

The kernel's ``ru_maxrss`` (what ``os.wait4`` or ``resource.getrusage`` report for a child)
cannot be used for this: on Linux it also counts the memory map the child had *before* it
executed its program, which is a copy of the parent's (``fork``) or the parent's own
(``vfork``). A harness holding 400 MB of data would see every child "peak" at 400 MB or more,
whatever the child does. ``VmHWM`` in ``/proc/self/status`` is the high-water mark of the
process's current memory map only, the one ``exec`` gave it.

Each measured process prints ``PEAK_PREFIX`` and that number as its last line of output:
the harness's worker does it itself; a script of somebody else's (the chapter's seed
reference) runs under this module::

    python -m implementations.peak_memory SCRIPT [ARGS...]

which runs SCRIPT as ``__main__`` with those arguments, then prints the line.
"""

from __future__ import annotations

import os
import runpy
import sys

PEAK_PREFIX = "peak_rss_bytes "


def high_water_mark() -> int:
    """This process's peak resident memory in bytes (``VmHWM``)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                value, unit = line.split()[1:3]
                if unit != "kB":
                    raise RuntimeError(f"VmHWM in {unit!r}, expected 'kB'")
                return int(value) * 1024
    raise RuntimeError("no VmHWM line in /proc/self/status (not Linux?)")


def print_peak() -> None:
    print(f"{PEAK_PREFIX}{high_water_mark()}", flush=True)


def parse_peak(line: str) -> int | None:
    """The bytes in a line printed by ``print_peak``; None for any other line."""
    return int(line[len(PEAK_PREFIX) :]) if line.startswith(PEAK_PREFIX) else None


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m implementations.peak_memory SCRIPT [ARGS...]", file=sys.stderr)
        return 2
    script = os.path.abspath(argv[0])
    sys.argv = [script, *argv[1:]]
    sys.path[0] = os.path.dirname(script)  # as `python SCRIPT` would have it
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as stop:
        if stop.code not in (None, 0):
            raise
    print_peak()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
