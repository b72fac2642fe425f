"""The one exception type that the command-line entry points turn into a one-line message."""


class GanlensError(Exception):
    """A problem with the user's input (a file, a flag, a model) that deserves one clear sentence.

    The message should name the file or flag and the problem; entry points print it as
    ``ganlens.X: error: <message>`` and exit with status 2, without a traceback.
    """
