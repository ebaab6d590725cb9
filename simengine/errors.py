"""Errors raised by the engine's public functions."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    """One problem in a document: the dotted path of the field and what is wrong.

    ``path`` is ``"(document)"`` for problems with the whole document (size, syntax).
    """

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class DocumentError(ValueError):
    """A document that cannot be simulated; ``errors`` lists every problem found."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors: list[FieldError] = list(errors) or [
            FieldError("(document)", "invalid document")
        ]
        super().__init__("\n".join(str(e) for e in self.errors))

    @classmethod
    def single(cls, path: str, message: str) -> DocumentError:
        return cls([FieldError(path, message)])


class Cancelled(Exception):
    """Raised from a run when the caller's ``should_stop()`` returned True."""


class BudgetExceeded(RuntimeError):
    """Raised when a run processes more events than ``Limits.max_events`` allows."""
