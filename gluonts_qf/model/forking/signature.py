"""One signature for every forking estimator: shared arguments written once.

:class:`~gluonts_qf.model.forking.estimator.ForkingEstimator` declares the
arguments every forking estimator shares (data, encoder, optimisation), with
their types, defaults and documentation. A concrete estimator declares only its
own arguments and ends its ``__init__`` signature with ``**kwargs``;
:func:`with_shared_arguments` then gives it the full signature (its own
arguments between the required shared ones and the optional shared ones),
wraps it in GluonTS's ``@validated()`` (pydantic checks, serde, ``repr``) and
appends the shared arguments' documentation to the class docstring. So
``inspect.signature``, ``help()`` and ``serde`` see every argument, and a
shared default lives in one place.
"""

from __future__ import annotations

import inspect
from typing import Callable, TypeVar

from gluonts.core.component import validated

Cls = TypeVar("Cls", bound=type)


def _parameters(init: Callable) -> list[inspect.Parameter]:
    return [
        p
        for p in inspect.signature(init).parameters.values()
        if p.name != "self" and p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    ]


def merged_signature(own: Callable, shared: Callable) -> inspect.Signature:
    """``(self, <required shared>, <own>, <optional shared>)``.

    ``own`` must take ``**kwargs`` (passed on to ``shared``) and no argument
    that ``shared`` also declares.
    """
    own_params, shared_params = _parameters(own), _parameters(shared)
    clash = {p.name for p in own_params} & {p.name for p in shared_params}
    if clash:
        raise TypeError(f"{own.__qualname__} re-declares shared arguments {clash}.")
    if not any(
        p.kind is inspect.Parameter.VAR_KEYWORD
        for p in inspect.signature(own).parameters.values()
    ):
        raise TypeError(f"{own.__qualname__} must end with **kwargs.")
    required = [p for p in shared_params if p.default is inspect.Parameter.empty]
    optional = [p for p in shared_params if p.default is not inspect.Parameter.empty]
    self_param = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    own_sig = inspect.signature(own)
    return own_sig.replace(parameters=[self_param, *required, *own_params, *optional])


def _parameters_section(doc: str | None) -> str:
    """The entries of the numpydoc ``Parameters`` section of ``doc``."""
    text = inspect.cleandoc(doc or "")
    _, found, rest = text.partition("Parameters\n----------\n")
    if not found:
        return ""
    lines = []
    for line in rest.splitlines():
        if line and not line.startswith(" ") and lines and lines[-1] == "":
            break  # an unindented line after a blank one: the next section
        lines.append(line)
    return "\n".join(lines).strip("\n")


def with_shared_arguments(cls: Cls) -> Cls:
    """Class decorator: give ``cls.__init__`` its base's shared arguments.

    The shared arguments are those of the ``__init__`` of ``cls``'s first
    base class, documented in that base's ``Parameters`` section.
    """
    base = cls.__mro__[1]
    own_init = cls.__init__
    own_init.__signature__ = merged_signature(own_init, base.__init__)
    cls.__init__ = validated()(own_init)
    shared_doc = _parameters_section(base.__doc__)
    if shared_doc:
        # the class docstring ends with its own Parameters entries: continue them
        cls.__doc__ = inspect.cleandoc(cls.__doc__ or "") + "\n" + shared_doc + "\n"
    return cls
