"""Checkers for the coding exercises.

A chapter's coding exercise defines a function and calls :func:`check`::

    def sigmoid_prime(z):
        ...                         # the student's code
    check("mlp.sigmoid_prime", sigmoid_prime)

The checker runs the function on cases the student does not see and prints
``✅ passed`` or ``❌`` with what went wrong and a hint. It never crashes on
student code that raises, returns the wrong type, or loops forever: the
checks run in a child process with a time limit (where the platform can fork).

Checkers are registered next to the code they teach, with the
:func:`exercise` decorator, together with a reference solution and at least
one plausible wrong answer; the test suite checks that every checker accepts
the reference and rejects each wrong answer.
"""
from __future__ import annotations

import importlib
import multiprocessing as mp
import pkgutil
import traceback
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from nnbook.validate import check_callable, check_float

__all__ = [
    "Exercise",
    "CheckResult",
    "CheckFailed",
    "exercise",
    "check",
    "run_check",
    "get",
    "all_exercises",
    "expect_close",
    "expect_equal",
]


class CheckFailed(AssertionError):
    """Raised inside a checker when the student's answer is wrong; the message is shown."""


@dataclass(frozen=True)
class Exercise:
    """A registered coding exercise."""

    name: str
    checker: Callable[[Callable], None]
    reference: Callable
    wrong: tuple
    hint: str
    points: int
    timeout: float


@dataclass(frozen=True)
class CheckResult:
    """The outcome of running one checker on one function."""

    name: str
    passed: bool
    message: str
    points: int

    @property
    def score(self) -> int:
        return self.points if self.passed else 0

    def __str__(self) -> str:
        mark = "✅" if self.passed else "❌"
        return f"{mark} {self.name}: {self.message}"


_REGISTRY: dict[str, Exercise] = {}


def exercise(name: str, *, reference: Callable, wrong: Sequence[Callable] = (), hint: str = "", points: int = 1, timeout: float = 20.0):
    """Register the decorated function as the checker of exercise ``name``.

    The checker takes the student's function and raises :class:`CheckFailed`
    (or any ``AssertionError``) with a helpful message when it is wrong.
    """
    check_callable("reference", reference)

    def register(checker: Callable[[Callable], None]):
        if name in _REGISTRY:
            raise ValueError(f"exercise name {name!r} is registered twice")
        _REGISTRY[name] = Exercise(name, checker, reference, tuple(wrong), hint, int(points), float(timeout))
        return checker

    return register


def all_exercises() -> dict[str, Exercise]:
    """Every registered exercise (importing every ``nnbook`` module first)."""
    import nnbook

    for info in pkgutil.iter_modules(nnbook.__path__):
        importlib.import_module(f"nnbook.{info.name}")
    return dict(sorted(_REGISTRY.items()))


def get(name: str) -> Exercise:
    """The exercise registered as ``name``."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, got {type(name).__name__}")
    if name not in _REGISTRY:
        all_exercises()
    if name not in _REGISTRY:
        raise ValueError(f"name={name!r} is not a registered exercise; known: {sorted(_REGISTRY)}")
    return _REGISTRY[name]


def _run_checker(ex: Exercise, func: Callable) -> tuple[bool, str]:
    try:
        ex.checker(func)
    except NotImplementedError:
        return False, "not implemented yet — replace the `raise NotImplementedError` with your code."
    except AssertionError as exc:
        msg = str(exc) or "a check failed"
        return False, msg + (f"\n   Hint: {ex.hint}" if ex.hint else "")
    except Exception as exc:  # student code raised
        tb = traceback.extract_tb(exc.__traceback__)
        where = f" (line {tb[-1].lineno} of {tb[-1].name})" if tb else ""
        return False, f"your function raised {type(exc).__name__}: {exc}{where}" + (f"\n   Hint: {ex.hint}" if ex.hint else "")
    return True, "passed — well done."


def _child(conn, ex, func):
    try:
        import torch

        torch.set_num_threads(1)  # the parent's OpenMP pool does not survive fork
        conn.send(_run_checker(ex, func))
    except Exception as exc:  # e.g. an unpicklable message
        conn.send((False, f"the checker could not report: {exc}"))
    finally:
        conn.close()


def run_check(name: str, func: Callable, *, timeout: float | None = None) -> CheckResult:
    """Run exercise ``name``'s checker on ``func`` and return the result (prints nothing).

    Runs in a forked child process with a time limit where possible, so an
    infinite loop or a crash in ``func`` cannot hang or kill the caller.
    """
    ex = get(name)
    if not callable(func):
        return CheckResult(name, False, f"expected a function, got {type(func).__name__}", ex.points)
    timeout = ex.timeout if timeout is None else check_float("timeout", timeout, min_value=0.0, min_inclusive=False)
    if "fork" not in mp.get_all_start_methods():  # e.g. Windows: run in-process, no time limit
        passed, message = _run_checker(ex, func)
        return CheckResult(name, passed, message, ex.points)
    ctx = mp.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(send, ex, func), daemon=True)
    proc.start()
    send.close()
    if recv.poll(timeout):
        try:
            passed, message = recv.recv()
            passed, message = passed is True, str(message)
        except EOFError:
            passed, message = False, "your function crashed the checker process (out of memory?)."
        except Exception:  # noqa: BLE001 - not a verdict: something else wrote on the checker's channel
            passed, message = False, "the checker could not read its verdict: did your function write on its channel?"
    elif proc.is_alive():
        passed, message = False, f"no answer within {timeout:g} s — is there an infinite loop?"
    else:
        passed, message = False, "your function crashed the checker process (out of memory?)."
    if proc.is_alive():
        proc.kill()
    proc.join()
    recv.close()
    return CheckResult(name, passed, message, ex.points)


def check(name: str, func: Callable, *, timeout: float | None = None) -> None:
    """Check ``func`` against exercise ``name`` and print the verdict."""
    print(run_check(name, func, timeout=timeout))


# ---------------------------------------------------------------- helpers for checkers
def expect_close(got, want, what: str, *, atol: float = 1e-6, rtol: float = 1e-5) -> None:
    """Fail with a readable message unless ``got`` ≈ ``want`` (same shape)."""
    try:
        got_a = np.asarray(got.detach().cpu() if hasattr(got, "detach") else got, dtype=float)
    except (TypeError, ValueError):
        raise CheckFailed(f"{what}: expected numbers, got {type(got).__name__}") from None
    want_a = np.asarray(want, dtype=float)
    if got_a.shape != want_a.shape:
        raise CheckFailed(f"{what}: expected shape {want_a.shape}, got shape {got_a.shape}")
    if not np.allclose(got_a, want_a, atol=atol, rtol=rtol):
        err = np.max(np.abs(got_a - want_a))
        raise CheckFailed(f"{what}: values differ from the expected ones (largest difference {err:.3g})")


def expect_equal(got, want, what: str) -> None:
    """Fail unless ``got == want`` exactly."""
    if got != want:
        raise CheckFailed(f"{what}: expected {want!r}, got {got!r}")
