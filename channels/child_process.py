"""What every worker process the gateway starts does first."""

from __future__ import annotations


def die_with_parent() -> None:
    """Linux: the kernel kills this worker when the gateway dies, even by kill -9 (an orphaned worker would
    hold its models for nothing: ~300 MB for reading, ~85 MB for triage)."""
    try:
        import ctypes
        import signal
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
