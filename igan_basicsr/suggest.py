"""The known name a mistyped one most likely meant, for the "did you mean" of every check."""
import difflib


def closest(name, names):
    """The one of `names` `name` is most likely a misspelling of, or None."""
    close = difflib.get_close_matches(str(name), [str(n) for n in names], n=1)
    return close[0] if close else None
