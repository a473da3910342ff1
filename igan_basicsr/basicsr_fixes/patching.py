"""Replacing a basicsr function, as often as a process runs basicsr: basicsr's own is kept at the first
replacement, so each later one is made from basicsr's function again, never from an earlier replacement."""
_BASICSR = {}


def replace(owner, name, make):
    """Set `owner.name` (a module or class attribute) to `make(basicsr's own)`."""
    original = _BASICSR.setdefault((owner, name), getattr(owner, name))
    setattr(owner, name, make(original))

