"""One exception hierarchy: every user-facing failure is an MlreproError whose str is one line."""

from __future__ import annotations


class MlreproError(Exception):
    """Base class: a user-facing failure, rendered as one line naming what is wrong and where."""

    exit_code = 2


class ParamsError(MlreproError):
    """A params.yaml value is missing, mistyped or out of range."""


class SchemaError(MlreproError):
    """The schema file itself is malformed."""


class DataError(MlreproError):
    """An input table or file is missing, unreadable or does not match the schema."""


class ValidationFailed(DataError):
    """Tables violate the schema; `violations` lists each one."""

    exit_code = 1

    def __init__(self, message: str, violations: list[str]) -> None:
        super().__init__(message)
        self.violations = violations
