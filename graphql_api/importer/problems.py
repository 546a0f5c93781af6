"""Problems found in import files, and the error that carries them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ImportProblem:
    """One invalid value in an import file.

    `location` is the JSON path of the value inside the file, such as
    ``integrated_accounts[3].status``, or empty when the whole file is wrong.
    """

    file: str
    location: str
    message: str

    def __str__(self) -> str:
        if self.location:
            return f"{self.file}: {self.location}: {self.message}"
        return f"{self.file}: {self.message}"


class ImportFailed(Exception):
    """Raised when an import finds problems. Nothing was written."""

    def __init__(self, problems: list[ImportProblem]) -> None:
        super().__init__(f"{len(problems)} problem(s) in the import files")
        self.problems = problems
