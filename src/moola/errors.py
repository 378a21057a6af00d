"""The one exception type that reaches the user as a single line instead of a traceback."""


class MoolaError(Exception):
    """A problem the user can fix: bad input, a refused guard, a missing file.

    The message must say what was wrong, where (file, row, key), and what to do next.
    `moola` prints it as one line and exits with code 1; anything else is a bug.
    """
