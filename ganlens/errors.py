"""The one exception type that the command-line entry points turn into a one-line message."""


class GanlensError(Exception):
    """A problem with the user's input (a file, a flag, a model) that deserves one clear sentence.

    The message should name the file or flag and the problem; entry points print it as
    ``ganlens.X: error: <message>`` and exit with status 2, without a traceback.
    """


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
