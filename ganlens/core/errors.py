"""The one exception type that the command-line entry points turn into a one-line message."""

import os


class GanlensError(Exception):
    """A problem with the user's input (a file, a flag, a model) that deserves one clear sentence.

    The message should name the file or flag and the problem; entry points print it as
    ``ganlens.X: error: <message>`` and exit with status 2, without a traceback.
    """


class NotApplicable(GanlensError):
    """The analysis needs something this model does not have (a segmenter, a discriminator): a command
    still fails with this one line, but ``analyses/run_all.py`` marks the figure "skipped", not "failed"."""


def require_at_least(checks: dict, *, flags: bool = False) -> None:
    """The one range check for integer settings of the library functions (argparse's twin for flags is
    ``cli.at_least``). ``checks``: {name: (value, lowest allowed)}; a value that is None is not checked.
    Raises GanlensError "n_eval must be at least 1, got 0" for the first one out of range, naming it as a
    Python argument or, with ``flags``, as the command's flag (``--n-eval``)."""
    for name, (value, low) in checks.items():
        if value is None:
            continue
        shown = "--" + name.replace("_", "-") if flags else name
        if isinstance(value, bool) or not isinstance(value, int) and not hasattr(value, "__index__"):
            raise GanlensError(f"{shown} must be an integer of at least {low}, got {value!r}")
        if value < low:
            raise GanlensError(f"{shown} must be at least {low}, got {value!r}")


def physical_memory() -> int:
    """Bytes of RAM on this machine (0 if the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def require_memory(nbytes: float, what: str, share: float = 0.8) -> None:
    """Refuse, before allocating, work whose estimated memory ``nbytes`` exceeds ``share`` of this
    machine's RAM: GanlensError "<what> needs about 3.7 TiB of memory; this machine has 24.0 GiB"."""
    total = physical_memory()
    if total and nbytes > share * total:
        raise GanlensError(f"{what} needs about {_size(nbytes)} of memory; this machine has {_size(total)}")


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if n < 1024 or unit == "EiB":
            return f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} EiB"


def first_line(msg: str) -> str:
    """The first line of an exception's message (at most 200 characters), for a one-line error."""
    return msg.strip().splitlines()[0][:200] if msg.strip() else ""
