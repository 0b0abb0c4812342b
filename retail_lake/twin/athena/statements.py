"""What an Athena statement is and which catalog tables it names, parsed with sqlglot's Athena (Trino) dialect.

Supported: queries (SELECT / WITH / set operations / VALUES), CREATE [OR REPLACE] VIEW, CREATE TABLE ... WITH (...)
AS SELECT (CTAS, Parquet), DROP VIEW / DROP TABLE [IF EXISTS]. Anything else fails with NOT_SUPPORTED naming the
statement. Views are stored in the Glue catalog as Athena stores them: a `VIRTUAL_VIEW` table whose
`ViewOriginalText` is `/* Presto View: <base64 JSON> */`.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError, TokenError

from retail_lake.twin.athena.errors import AthenaQueryError

READ_DIALECT = "athena"
QUERY, CREATE_VIEW, CTAS, DROP = "QUERY", "CREATE_VIEW", "CTAS", "DROP"
STATEMENT_TYPES = {QUERY: "DML", CREATE_VIEW: "DDL", CTAS: "DDL", DROP: "DDL"}
_PRESTO_VIEW_PREFIX, _PRESTO_VIEW_SUFFIX = "/* Presto View: ", " */"
# First words of the statements Athena knows (whether or not the twin runs them).
ATHENA_STATEMENT_KEYWORDS = frozenset({
    "ALTER", "ANALYZE", "CREATE", "DEALLOCATE", "DELETE", "DESCRIBE", "DROP", "EXECUTE", "EXPLAIN", "INSERT",
    "MERGE", "MSCK", "OPTIMIZE", "PREPARE", "SELECT", "SHOW", "TABLE", "UNLOAD", "UPDATE", "USE", "VACUUM", "VALUES",
    "WITH",
})


@dataclass
class Statement:
    kind: str
    tree: exp.Expression
    text: str

    @property
    def statement_type(self) -> str:
        return STATEMENT_TYPES[self.kind]


def parse_statement(sql: str) -> Statement:
    text = sql.strip().rstrip(";").strip()
    if not text:
        raise AthenaQueryError("SYNTAX_ERROR", "line 1:1: the query string is empty")
    try:
        trees = [t for t in sqlglot.parse(text, read=READ_DIALECT, error_level=ErrorLevel.RAISE) if t is not None]
    except ParseError as error:
        raise AthenaQueryError("SYNTAX_ERROR", _parse_error_message(error)) from None
    except TokenError as error:
        raise AthenaQueryError("SYNTAX_ERROR", f"line 1:1: {error}") from None
    if len(trees) != 1:
        raise AthenaQueryError("NOT_SUPPORTED", f"one statement per query execution; this query has {len(trees)}")
    tree = trees[0]
    if isinstance(tree, (exp.Query, exp.Values)):
        return Statement(QUERY, tree, text)
    if isinstance(tree, exp.Create):
        kind = str(tree.args.get("kind") or "").upper()
        if kind == "VIEW" and isinstance(tree.expression, exp.Query):
            return Statement(CREATE_VIEW, tree, text)
        if kind == "TABLE" and isinstance(tree.expression, exp.Query):
            return Statement(CTAS, tree, text)
        raise AthenaQueryError(
            "NOT_SUPPORTED",
            f"CREATE {kind or '?'} without AS SELECT is not run by the twin's Athena (tables are created through the "
            "Glue catalog, e.g. by the CDK stacks); supported: queries, CREATE [OR REPLACE] VIEW ... AS, "
            "CREATE TABLE ... WITH (...) AS SELECT, DROP VIEW/TABLE",
        )
    if isinstance(tree, exp.Drop) and str(tree.args.get("kind") or "").upper() in ("VIEW", "TABLE"):
        return Statement(DROP, tree, text)
    keyword = text.split(None, 2)
    if keyword[0].upper() not in ATHENA_STATEMENT_KEYWORDS:
        raise AthenaQueryError("SYNTAX_ERROR", f"line 1:1: mismatched input '{keyword[0]}'. Expecting: 'ALTER', "
                               "'CREATE', 'DESCRIBE', 'DROP', 'EXPLAIN', 'INSERT', 'MSCK', 'SELECT', 'SHOW', "
                               "'UNLOAD', 'VALUES', 'WITH', <query>")
    raise AthenaQueryError(
        "NOT_SUPPORTED",
        f"'{' '.join(keyword[:2]).upper()}' statements are not run by the twin's Athena; supported: queries "
        "(SELECT/WITH), CREATE [OR REPLACE] VIEW ... AS, CREATE TABLE ... WITH (...) AS SELECT, DROP VIEW/TABLE",
    )


def _parse_error_message(error: ParseError) -> str:
    details = error.errors[0] if error.errors else {}
    line, col = details.get("line", 1), details.get("col", 1)
    description = details.get("description") or str(error).splitlines()[0]
    highlight = details.get("highlight")
    near = f" at or near '{highlight}'" if highlight else ""
    return f"line {line}:{col}: {description}{near}"


def cte_names(tree: exp.Expression) -> set[str]:
    return {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}


def referenced_tables(tree: exp.Expression, default_database: str) -> list[tuple[str, str, exp.Table]]:
    """(database, table, node) for every catalog table `tree` reads; CTE references are left out. Names are lower
    case, as Athena folds them."""
    ctes = cte_names(tree)
    found = []
    for node in tree.find_all(exp.Table):
        if not node.name:
            continue
        if not node.db and node.name.lower() in ctes:
            continue
        catalog = node.catalog.lower() if node.catalog else ""
        if catalog and catalog != "awsdatacatalog":
            raise AthenaQueryError("CATALOG_NOT_FOUND", f"catalog '{node.catalog}' does not exist (the twin has "
                                   "the AWS Glue Data Catalog only: awsdatacatalog)")
        found.append(((node.db or default_database).lower(), node.name.lower(), node))
    return found


def qualify(node: exp.Table, database: str, name: str) -> None:
    """Point a table reference at "database"."name" (the DuckDB schema and view the engine registers)."""
    node.set("catalog", None)
    node.set("db", exp.to_identifier(database, quoted=True))
    node.set("this", exp.to_identifier(name, quoted=True))


def table_target(tree: exp.Create | exp.Drop, default_database: str) -> tuple[str, str]:
    target = tree.this
    if target is None and tree.args.get("tables"):
        target = tree.args["tables"][0]  # DROP keeps its names in `tables`
    if isinstance(target, exp.Schema):
        target = target.this
    if not isinstance(target, exp.Table):
        raise AthenaQueryError("SYNTAX_ERROR", "line 1:1: expected a table or view name")
    return (target.db or default_database).lower(), target.name.lower()


def ctas_properties(tree: exp.Create) -> dict[str, Any]:
    """The WITH (...) properties of a CTAS, lower-case keys: format, external_location, partitioned_by, ..."""
    found: dict[str, Any] = {}
    properties = tree.args.get("properties")
    for prop in properties.expressions if properties else []:
        if isinstance(prop, exp.FileFormatProperty):
            found["format"] = prop.this.name if isinstance(prop.this, exp.Expression) else str(prop.this)
        elif isinstance(prop, exp.PartitionedByProperty):
            found["partitioned_by"] = _names(prop.this)
        elif isinstance(prop, exp.Property):
            key = prop.name.lower()
            value = prop.args.get("value")
            if isinstance(value, exp.Array):
                found[key] = [v.name for v in value.expressions]
            elif isinstance(value, exp.Expression):
                found[key] = value.name
            else:
                found[key] = value
    return found


def _names(value: Any) -> list[str]:
    if isinstance(value, (exp.Array, exp.Tuple, exp.Schema)):
        return [v.name for v in value.expressions]
    return [value.name] if isinstance(value, exp.Expression) else []


# ---------------------------------------------------------------------------------------------- Presto views
def encode_presto_view(original_sql: str, database: str, columns: list[tuple[str, str]]) -> str:
    payload = {"originalSql": original_sql, "catalog": "awsdatacatalog", "schema": database,
               "columns": [{"name": n, "type": t} for n, t in columns], "owner": "twin", "runAsInvoker": False}
    encoded = base64.b64encode(json.dumps(payload).encode()).decode()
    return f"{_PRESTO_VIEW_PREFIX}{encoded}{_PRESTO_VIEW_SUFFIX}"


def decode_presto_view(view_original_text: str, view_name: str) -> tuple[str, str | None]:
    """(original SQL, the database it was written in) of a Glue VIRTUAL_VIEW's ViewOriginalText."""
    text = (view_original_text or "").strip()
    if text.startswith(_PRESTO_VIEW_PREFIX) and text.endswith(_PRESTO_VIEW_SUFFIX):
        payload = json.loads(base64.b64decode(text[len(_PRESTO_VIEW_PREFIX):-len(_PRESTO_VIEW_SUFFIX)]))
        return payload["originalSql"], payload.get("schema")
    if text:
        return text, None  # a view catalogued with its plain SQL
    raise AthenaQueryError("HIVE_VIEW_ERROR", f"view {view_name} has no view text in the Glue catalog")
