"""Read-only attributes that a facade reads from one of its parts."""

from __future__ import annotations


class Delegate:
    """A read-only attribute of a facade, read from one of its parts.

    ``size = Delegate("part", "The size.")`` in a class body reads ``self.part.size``; the
    docstring is the attribute's. It replaces a ``@property`` whose body only returns the
    part's attribute of the same name (or of ``name``).

    Parameters
    ----------
    part : str
        The facade's attribute that holds the part.
    doc : str
        The attribute's docstring.
    name : str, optional
        The part's attribute, if it is named otherwise.

    Examples
    --------
    >>> class Part:
    ...     size = 3
    >>> class Whole:
    ...     size = Delegate("part", "The part's size.")
    ...     def __init__(self):
    ...         self.part = Part()
    >>> Whole().size, Whole.size.__doc__
    (3, "The part's size.")
    >>> Whole().size = 4
    Traceback (most recent call last):
    AttributeError: size is read-only
    """

    def __init__(self, part: str, doc: str, name: str | None = None) -> None:
        self.part = part
        self.name = name
        self.__doc__ = doc

    def __set_name__(self, owner, name: str) -> None:
        self.attribute = name
        self.name = self.name or name

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        return getattr(getattr(obj, self.part), self.name)

    def __set__(self, obj, value) -> None:
        raise AttributeError(f"{self.attribute} is read-only")
