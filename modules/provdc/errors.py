"""One kind of user-facing error: a clear paragraph naming the file, the field and the fix.

Every command catches ProvdcError at the top, prints `str(err)` and exits 2, so bad input
never produces a traceback and nothing is applied before validation passed.
"""

from __future__ import annotations

from dataclasses import dataclass

EXIT_INVALID = 2


@dataclass
class ProvdcError(Exception):
    """A problem in the user's input, told as one paragraph."""

    message: str
    file: str | None = None
    line: int | None = None
    field: str | None = None
    fix: str | None = None

    def __str__(self) -> str:
        where = self.file or "<input>"
        if self.line:
            where += f", line {self.line}"
        parts = [f"{where}:"]
        if self.field:
            parts.append(f"{self.field}:")
        parts.append(self.message.rstrip(".") + ".")
        if self.fix:
            parts.append("Fix: " + self.fix.rstrip(".") + ".")
        return " ".join(parts)


class ValidationFailed(ProvdcError):
    """Several independent problems found in one file, reported together."""

    def __init__(self, errors: list[ProvdcError]):
        first = errors[0]
        super().__init__(first.message, first.file, first.line, first.field, first.fix)
        self.errors = errors

    def __str__(self) -> str:
        if len(self.errors) == 1:
            return str(self.errors[0])
        more = len(self.errors) - 1
        lines = [str(e) for e in self.errors[:10]]
        tail = f" ({more} more problem{'s' if more > 1 else ''} below.)"
        return lines[0] + tail + "".join("\n  - " + line for line in lines[1:])
