"""The errors a user can act on.

Every error that comes from the user's input (a config key or value, a data
file, an artifact that cannot be written, a device that is not there) derives
from :class:`UserError`. The ``sslsv`` command prints such an error as one
line, ``sslsv: error: <message>``; the message names the file, key or value
and says what to do. Anything else is a bug: the command says so in one line
too, and ``--debug`` shows the traceback of either.
"""

from __future__ import annotations


class UserError(Exception):
    """An error in what the user asked for or gave; its message says what to change."""


class DataWarning(UserWarning):
    """Input that works but is probably not what the user meant (a crop longer than every file, ...)."""


def warn_data(message: str) -> None:
    """Warn about the user's input: one line on stderr, ``sslsv: warning: <message>``, every time.

    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_data("train.crop_seconds=10 is longer than every training file")
    >>> str(caught[0].message), caught[0].category.__name__
    ('train.crop_seconds=10 is longer than every training file', 'DataWarning')
    """
    import warnings

    warnings.warn(message, DataWarning, stacklevel=2)
