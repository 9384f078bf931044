"""Read-only attributes: a facade's, read from one of its parts, and an object's own."""

from __future__ import annotations


class Delegate:
    """A read-only attribute of a facade, read from one of its parts.

    ``size = Delegate("part", "The size.")`` in a class body reads ``self.part.size``; the
    docstring is the attribute's. It replaces a ``@property`` whose body only returns the
    part's attribute of the same name (or of ``name``). :func:`delegates` makes many at once,
    with the part's own docstrings.

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

    def __init__(self, part: str, doc: str | None, name: str | None = None) -> None:
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


def delegates(part: str, part_class: type, *names: str):
    """Class decorator: read-only attributes ``names`` read from ``self.<part>``.

    Each is a :class:`Delegate` whose docstring is that of ``part_class``'s attribute of the
    same name, so the part documents them once.

    Parameters
    ----------
    part : str
        The facade's attribute that holds the part.
    part_class : type
        The part's class (where the docstrings are read).
    *names : str
        The attributes.

    Examples
    --------
    >>> class Part:
    ...     size = property(lambda self: 3, doc="The size.")
    >>> @delegates("part", Part, "size")
    ... class Whole:
    ...     def __init__(self):
    ...         self.part = Part()
    >>> Whole().size, Whole.size.__doc__
    (3, 'The size.')
    >>> @delegates("part", Part, "colour")
    ... class Broken:
    ...     pass
    Traceback (most recent call last):
    AttributeError: Part has no attribute colour to delegate to
    """

    def decorate(cls: type) -> type:
        for name in names:
            if not hasattr(part_class, name):
                raise AttributeError(
                    f"{part_class.__name__} has no attribute {name} to delegate to"
                )
            attribute = Delegate(part, getattr(part_class, name).__doc__)
            attribute.__set_name__(cls, name)
            setattr(cls, name, attribute)
        return cls

    return decorate


class Field(Delegate):
    """A read-only attribute that returns the object's own ``_<name>``.

    It replaces a ``@property`` whose body only returns the private attribute behind it.

    Parameters
    ----------
    doc : str
        The attribute's docstring.

    Examples
    --------
    >>> class Brush:
    ...     radius = Field("Brush radius in pixels.")
    ...     def __init__(self):
    ...         self._radius = 4
    >>> Brush().radius, Brush.radius.__doc__
    (4, 'Brush radius in pixels.')
    >>> Brush().radius = 5
    Traceback (most recent call last):
    AttributeError: radius is read-only
    """

    def __init__(self, doc: str) -> None:
        super().__init__("", doc)

    def __set_name__(self, owner, name: str) -> None:
        super().__set_name__(owner, name)
        self.name = "_" + name

    def __get__(self, obj, owner=None):
        return self if obj is None else getattr(obj, self.name)
