"""``python -m ganlens COMMAND ...``: the ``ganlens`` console script (see :mod:`ganlens.registry`)."""

from ganlens.registry import entry

if __name__ == "__main__":
    entry()
