"""Reads ``corpus.sql``: one guard test case per ``==`` header."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CORPUS = Path(__file__).with_name("corpus.sql")


@dataclass(frozen=True)
class Case:
    verdict: str  # allow | reject
    dialect: str
    code: str | None  # the expected error code for rejects
    reason: str
    sql: str
    line: int

    @property
    def id(self) -> str:
        return f"{self.dialect}:{self.line}:{self.reason[:40]}"


def load(path: Path = CORPUS) -> list[Case]:
    cases: list[Case] = []
    header: tuple[str, ...] | None = None
    body: list[str] = []
    start = 0

    def flush() -> None:
        if header is not None:
            verdict, dialect, *code = header[0].split()
            cases.append(Case(verdict, dialect, code[0] if code else None, header[1].strip(),
                              "\n".join(body).strip(), start))

    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.startswith("== "):
            flush()
            head, _, reason = line[3:].partition("|")
            header, body, start = (head, reason), [], number
        elif header is not None and not line.startswith("# "):
            body.append(line)
    flush()
    return cases
