"""A flow that stops on a user's mistake fails with the Chinese explanation as its state message.

Prefect would title the failed run "Flow run encountered an exception: AgreementError: …" in English; returning a
`Failed` state instead puts the explanation (file:line first) at the top of the run page, the technical detail
below it, and still raises the same exception to a Python caller.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ParamSpec, TypeVar, cast, get_type_hints

from prefect.states import Failed

from coop.artifacts import user_error_text
from coop.errors import CoopError
from flows.forms import form_signature

P = ParamSpec("P")
R = TypeVar("R")


def failure_message(exc: CoopError) -> str:
    """The state message: what to do, in Chinese, then the exception as Python named it."""
    return f"{user_error_text(exc)}\n\n技术细节：{type(exc).__name__}: {exc}"


def explained(fn: Callable[P, R]) -> Callable[P, R]:
    """Wrap a flow function (under `@flow`): a `CoopError` ends the run as `Failed` with `failure_message`."""

    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except CoopError as exc:
            return cast(R, Failed(message=failure_message(exc), data=exc))

    return _as_form(fn, run)


def explained_async(fn: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
    """`explained` for an `async def` flow (Prefect runs it on its async engine only if the wrapper is one too)."""

    @functools.wraps(fn)
    async def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except CoopError as exc:
            return cast(R, Failed(message=failure_message(exc), data=exc))

    return _as_form(fn, run)


def _as_form(fn: Callable[..., Any], run: Callable[P, R]) -> Callable[P, R]:
    # The flow module's names (ShippedAgreement, Today …) are not this module's: hand Prefect resolved annotations,
    # and the form's defaults (a `Blank` field's None is left out of the form; it still arrives as None).
    run.__signature__ = form_signature(inspect.signature(fn, eval_str=True))  # type: ignore[attr-defined]
    run.__annotations__ = get_type_hints(fn, include_extras=True)
    return run
