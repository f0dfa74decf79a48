"""The library's one exception type for a user's mistake or a refusal.

A :class:`UserInputError` says that the cause is the input (an argument, a
file, a folder written by another command), not the code: ``mer`` prints it
as one line, ``mer: error: ...``, and exits with status 2. Every other
exception, a plain ``ValueError`` included, is a bug and keeps its traceback.
"""

__all__ = ["UserInputError"]


class UserInputError(ValueError):
    """A user's mistake or a refusal, stated in one line.

    A subclass of ``ValueError``, so code that catches ``ValueError`` keeps
    working. The message names the argument or file and what was expected.

    Examples
    --------
    >>> try:
    ...     raise UserInputError("--folds: expected an integer >= 2, got 1")
    ... except ValueError as err:
    ...     print(err)
    --folds: expected an integer >= 2, got 1
    """
