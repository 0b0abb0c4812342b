"""The serving SQL, kept in files: views and named queries for Athena, statements for Redshift.

A file's first comment lines are its description. `${analytics}` (and any other `${name}`) is replaced by the
stage's database name when rendered, so the same files serve every stage:

    render(VIEWS["v_inventory_latest"].sql, analytics="retail_lake_dev_analytics")
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from functools import cache
from pathlib import Path

SQL_DIR = Path(__file__).parent / "sql"


@dataclass(frozen=True)
class SqlFile:
    name: str  # file stem: daily_sales_by_store_and_region
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text()

    @property
    def description(self) -> str:
        lines = []
        for line in self.sql.splitlines():
            if not line.startswith("--"):
                break
            lines.append(line.removeprefix("--").strip())
        return " ".join(lines)

    @property
    def title(self) -> str:
        """The description's first sentence (up to the first colon or period)."""
        text = self.description
        for mark in (":", "."):
            text = text.split(mark, 1)[0]
        return text.strip()

    def render(self, **databases: str) -> str:
        return render(self.sql, **databases)


class MissingSqlParameter(KeyError):
    pass


def render(sql: str, **databases: str) -> str:
    """`sql` with `${name}` replaced by `databases[name]`; a placeholder without a value is an error naming it."""
    try:
        return string.Template(sql).substitute(databases)
    except KeyError as error:
        raise MissingSqlParameter(f"the SQL needs a value for ${{{error.args[0]}}}; given: {sorted(databases)}") from None


@cache
def _files(folder: str) -> dict[str, SqlFile]:
    return {path.stem: SqlFile(path.stem, path) for path in sorted((SQL_DIR / folder).glob("*.sql"))}


def views() -> dict[str, SqlFile]:
    """CREATE OR REPLACE VIEW statements over the analytics tables, by view name."""
    return _files("views")


def named_queries() -> dict[str, SqlFile]:
    """The business questions, by query name."""
    return _files("queries")


def redshift_statements() -> dict[str, SqlFile]:
    """Redshift statements in the order they run (file names start with their position)."""
    return _files("redshift")


# The order views must be created in (none of the views reads another today; kept explicit for when one does).
def view_order() -> list[str]:
    return sorted(views())
