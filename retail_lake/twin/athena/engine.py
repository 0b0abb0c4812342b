"""Runs one Athena statement on DuckDB over the twin's Glue catalog and S3.

    engine = AthenaEngine(glue_client, s3_client)
    outcome = engine.run("SELECT store_id, sum(net_sales) FROM daily_sales GROUP BY 1", database="analytics_db",
                         query_id=qid, output_root="s3://results/", put_object=put)

A query: every catalog table it names (views expanded, recursively) is read from S3 into Arrow and registered
in a fresh in-memory DuckDB connection as schema "database", view "table"; the statement, translated from
Athena's Trino dialect to DuckDB's by sqlglot (integer division kept with DuckDB's `integer_division` setting),
runs there. Result types follow Athena: DuckDB's 128-bit sums of integers come back as bigint.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any, Callable

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlglot import exp
from sqlglot.errors import ErrorLevel, SqlglotError, UnsupportedError

from retail_lake.twin.athena.errors import AthenaQueryError
from retail_lake.twin.athena.statements import (
    CREATE_VIEW,
    CTAS,
    DROP,
    Statement,
    ctas_properties,
    decode_presto_view,
    encode_presto_view,
    parse_statement,
    qualify,
    referenced_tables,
    table_target,
)
from retail_lake.twin.athena.tables import GlueTableReader
from retail_lake.twin.athena.types import arrow_to_hive, athena_type

WRITE_DIALECT = "duckdb"
MAX_VIEW_DEPTH = 16
PARQUET_INPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
PARQUET_OUTPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"


@dataclass
class Outcome:
    statement_type: str  # DML | DDL
    result: pa.Table | None  # rows of a query (a CTAS reports its row count as column `rows`)
    bytes_scanned: int = 0
    manifest_location: str | None = None
    tables_read: list[str] = field(default_factory=list)


PutObject = Callable[[str, bytes], None]  # (s3:// URI, body)


class AthenaEngine:
    def __init__(self, glue_client: Any, s3_client: Any, reader: GlueTableReader | None = None) -> None:
        self.glue = glue_client
        self.s3 = s3_client
        self.reader = reader or GlueTableReader(s3_client)

    def run(self, sql: str, *, database: str = "default", query_id: str = "query", output_root: str | None = None,
            put_object: PutObject | None = None) -> Outcome:
        statement = parse_statement(sql)
        database = (database or "default").lower()
        if statement.kind == DROP:
            return self._drop(statement, database)
        con = duckdb.connect()
        try:
            con.execute("SET integer_division = true")
            con.execute("SET TimeZone = 'UTC'")
            session = _Session(self, con)
            if statement.kind == CREATE_VIEW:
                return self._create_view(statement, database, session)
            if statement.kind == CTAS:
                return self._ctas(statement, database, session, query_id, output_root, put_object)
            result = session.query(statement.tree, database)
            return Outcome("DML", result, session.bytes_scanned, tables_read=sorted(session.registered))
        finally:
            con.close()

    # ------------------------------------------------------------------------------------------ DDL
    def _create_view(self, statement: Statement, database: str, session: _Session) -> Outcome:
        view_db, view_name = table_target(statement.tree, database)
        self._require_database(view_db)
        select = statement.tree.expression
        original_sql = select.sql(dialect="athena")
        result = session.query(select.copy(), view_db, limit_zero=True)
        columns = [(f.name, f.type) for f in result.schema]
        existing = self._get_table(view_db, view_name)
        if existing is not None and not statement.tree.args.get("replace"):
            raise AthenaQueryError("ALREADY_EXISTS", f"line 1:1: View '{view_db}.{view_name}' already exists; use "
                                   "CREATE OR REPLACE VIEW")
        if existing is not None and existing.get("TableType") != "VIRTUAL_VIEW":
            raise AthenaQueryError("ALREADY_EXISTS", f"line 1:1: '{view_db}.{view_name}' is a table, not a view")
        table_input = {
            "Name": view_name,
            "TableType": "VIRTUAL_VIEW",
            "Parameters": {"presto_view": "true", "comment": "Presto View"},
            "ViewOriginalText": encode_presto_view(original_sql, view_db,
                                                   [(n, _trino_type(t)) for n, t in columns]),
            "ViewExpandedText": "/* Presto View */",
            "StorageDescriptor": {"Columns": [{"Name": n, "Type": arrow_to_hive(t)} for n, t in columns],
                                  "SerdeInfo": {}, "Location": ""},
        }
        if existing is None:
            self.glue.create_table(DatabaseName=view_db, TableInput=table_input)
        else:
            self.glue.update_table(DatabaseName=view_db, TableInput=table_input)
        return Outcome("DDL", None, session.bytes_scanned, tables_read=sorted(session.registered))

    def _drop(self, statement: Statement, database: str) -> Outcome:
        target_db, name = table_target(statement.tree, database)
        kind = str(statement.tree.args.get("kind")).upper()
        existing = self._get_table(target_db, name)
        if existing is None:
            if statement.tree.args.get("exists"):
                return Outcome("DDL", None)
            raise AthenaQueryError("TABLE_NOT_FOUND" if kind == "TABLE" else "VIEW_NOT_FOUND",
                                   f"line 1:1: {kind.title()} 'awsdatacatalog.{target_db}.{name}' does not exist")
        is_view = existing.get("TableType") == "VIRTUAL_VIEW"
        if (kind == "VIEW") != is_view:
            raise AthenaQueryError("NOT_SUPPORTED", f"line 1:1: '{target_db}.{name}' is a "
                                   f"{'view' if is_view else 'table'}: use DROP {'VIEW' if is_view else 'TABLE'}")
        self.glue.delete_table(DatabaseName=target_db, Name=name)  # the data of an external table stays on S3
        return Outcome("DDL", None)

    def _ctas(self, statement: Statement, database: str, session: _Session, query_id: str,
              output_root: str | None, put_object: PutObject | None) -> Outcome:
        target_db, name = table_target(statement.tree, database)
        self._require_database(target_db)
        if self._get_table(target_db, name) is not None:
            raise AthenaQueryError("ALREADY_EXISTS", f"line 1:1: Table 'awsdatacatalog.{target_db}.{name}' already "
                                   "exists")
        props = ctas_properties(statement.tree)
        storage_format = str(props.get("format", "PARQUET")).upper()
        if storage_format != "PARQUET":
            raise AthenaQueryError("NOT_SUPPORTED", f"CTAS format '{storage_format}': the twin writes PARQUET only")
        if props.get("bucketed_by"):
            raise AthenaQueryError("NOT_SUPPORTED", "CTAS bucketed_by is not emulated by the twin")
        location = props.get("external_location")
        if not location:
            if not output_root:
                raise AthenaQueryError("INVALID_TABLE_PROPERTY", "CTAS needs external_location or a query output "
                                       "location")
            location = f"{output_root.rstrip('/')}/tables/{query_id}/"
        location = location.rstrip("/") + "/"
        bucket, prefix = _split_s3(location)
        if self.s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1).get("KeyCount", 0):
            raise AthenaQueryError("HIVE_PATH_ALREADY_EXISTS", f"Target directory for table '{target_db}.{name}' "
                                   f"already exists: {location}")
        with_data = not statement.tree.args.get("no_schema_binding") and "WITH NO DATA" not in statement.text.upper()
        result = session.query(statement.tree.expression, database, limit_zero=not with_data)
        partitions = [p.lower() for p in props.get("partitioned_by", [])]
        missing = [p for p in partitions if p not in result.column_names]
        if missing:
            raise AthenaQueryError("COLUMN_NOT_FOUND", f"partition column(s) {missing} are not in the CTAS query")
        if put_object is None:
            raise AthenaQueryError("GENERIC_INTERNAL_ERROR", "CTAS needs a writer for the result location",
                                   category=1)
        paths = _write_parquet(result, location, partitions, query_id, put_object)
        manifest = None
        if output_root:
            manifest = f"{output_root.rstrip('/')}/tables/{query_id}-manifest.csv"
            put_object(manifest, "".join(f"{p}\n" for p in paths).encode())
        data_columns = [f for f in result.schema if f.name not in partitions]
        self.glue.create_table(DatabaseName=target_db, TableInput={
            "Name": name,
            "TableType": "EXTERNAL_TABLE",
            "Parameters": {"classification": "parquet", "EXTERNAL": "TRUE", "has_encrypted_data": "false"},
            "PartitionKeys": [{"Name": p, "Type": arrow_to_hive(result.schema.field(p).type)} for p in partitions],
            "StorageDescriptor": {
                "Columns": [{"Name": f.name, "Type": arrow_to_hive(f.type)} for f in data_columns],
                "Location": location, "InputFormat": PARQUET_INPUT, "OutputFormat": PARQUET_OUTPUT,
                "SerdeInfo": {"SerializationLibrary": PARQUET_SERDE},
            },
        })
        rows = pa.table({"rows": pa.array([result.num_rows if with_data else 0], pa.int64())})
        return Outcome("DDL", rows, session.bytes_scanned, manifest_location=manifest,
                       tables_read=sorted(session.registered))

    # ------------------------------------------------------------------------------------------ catalog
    def _get_table(self, database: str, name: str) -> dict[str, Any] | None:
        try:
            return self.glue.get_table(DatabaseName=database, Name=name)["Table"]
        except self.glue.exceptions.EntityNotFoundException:
            return None

    def _require_database(self, database: str) -> None:
        try:
            self.glue.get_database(Name=database)
        except self.glue.exceptions.EntityNotFoundException:
            raise AthenaQueryError("SCHEMA_NOT_FOUND", f"line 1:1: Schema '{database}' does not exist") from None

    def table(self, database: str, name: str) -> dict[str, Any]:
        found = self._get_table(database, name)
        if found is None:
            self._require_database(database)
            raise AthenaQueryError("TABLE_NOT_FOUND",
                                   f"line 1:1: Table 'awsdatacatalog.{database}.{name}' does not exist")
        return found


class _Session:
    """One statement's DuckDB connection with the catalog tables and views it needs registered."""

    def __init__(self, engine: AthenaEngine, con: duckdb.DuckDBPyConnection) -> None:
        self.engine = engine
        self.con = con
        self.registered: set[str] = set()
        self.bytes_scanned = 0
        self._schemas: set[str] = set()
        self._resolving: list[str] = []

    def query(self, tree: exp.Expression, database: str, *, limit_zero: bool = False) -> pa.Table:
        tree = self._bind(tree, database)
        sql = _translate(tree)
        if limit_zero:
            sql = f"SELECT * FROM ({sql}) AS __schema_only LIMIT 0"
        try:
            relation = self.con.sql(sql)
            types = [str(t).upper() for t in relation.types]
            result = relation.to_arrow_table()
        except duckdb.Error as error:
            raise _duckdb_error(error) from None
        return _athena_result(result, types)

    def _bind(self, tree: exp.Expression, database: str) -> exp.Expression:
        for table_db, table_name, node in referenced_tables(tree, database):
            self._register(table_db, table_name)
            qualify(node, table_db, table_name)
        return tree

    def _register(self, database: str, name: str) -> None:
        qualified = f"{database}.{name}"
        if qualified in self.registered:
            return
        if qualified in self._resolving:
            raise AthenaQueryError("HIVE_VIEW_ERROR", f"view {qualified} refers to itself through "
                                   + " -> ".join(self._resolving))
        if len(self._resolving) > MAX_VIEW_DEPTH:
            raise AthenaQueryError("HIVE_VIEW_ERROR", f"views nested deeper than {MAX_VIEW_DEPTH} levels")
        glue_table = self.engine.table(database, name)
        self._schema(database)
        if glue_table.get("TableType") == "VIRTUAL_VIEW":
            self._resolving.append(qualified)
            try:
                view_sql, view_db = decode_presto_view(glue_table.get("ViewOriginalText", ""), qualified)
                statement = parse_statement(view_sql)
                bound = self._bind(statement.tree, (view_db or database).lower())
                self._execute(f'CREATE OR REPLACE VIEW "{database}"."{name}" AS {_translate(bound)}')
            finally:
                self._resolving.pop()
        else:
            scan = self.engine.reader.scan(glue_table)
            self.bytes_scanned += scan.bytes_scanned
            relation_name = f"__scan_{len(self.registered)}"
            self.con.register(relation_name, scan.table)
            self._execute(f'CREATE OR REPLACE VIEW "{database}"."{name}" AS SELECT * FROM {relation_name}')
        self.registered.add(qualified)

    def _schema(self, database: str) -> None:
        if database not in self._schemas:
            self._execute(f'CREATE SCHEMA IF NOT EXISTS "{database}"')
            self._schemas.add(database)

    def _execute(self, sql: str) -> None:
        try:
            self.con.execute(sql)
        except duckdb.Error as error:
            raise _duckdb_error(error) from None


def _translate(tree: exp.Expression) -> str:
    try:
        return tree.sql(dialect=WRITE_DIALECT, unsupported_level=ErrorLevel.RAISE)
    except UnsupportedError as error:
        raise AthenaQueryError("NOT_SUPPORTED", f"the twin cannot translate this to DuckDB: {error}") from None
    except SqlglotError as error:
        raise AthenaQueryError("SYNTAX_ERROR", f"line 1:1: {error}") from None


def _athena_result(table: pa.Table, duckdb_types: list[str]) -> pa.Table:
    """Athena's types for DuckDB's results: HUGEINT (sums of integers) as bigint, unsigned as signed, time-zone
    timestamps as UTC timestamps."""
    columns, fields = [], []
    for index, field_ in enumerate(table.schema):
        column = table.column(index)
        duck = duckdb_types[index] if index < len(duckdb_types) else ""
        if duck in ("HUGEINT", "UHUGEINT", "UBIGINT"):
            column = column.cast(pa.int64())
        elif pa.types.is_timestamp(column.type) and column.type.tz is not None:
            column = pc.cast(column, pa.timestamp(column.type.unit, tz="UTC")).cast(pa.timestamp(column.type.unit))
        elif pa.types.is_large_string(column.type) or pa.types.is_string_view(column.type):
            column = column.cast(pa.string())
        columns.append(column)
        fields.append(pa.field(field_.name, column.type))
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))


def _trino_type(arrow_type: pa.DataType) -> str:
    kind = athena_type(arrow_type)
    if kind == "decimal":
        return f"decimal({arrow_type.precision},{arrow_type.scale})"
    return kind


def _duckdb_error(error: duckdb.Error) -> AthenaQueryError:
    message = str(error).strip()
    first = message.splitlines()[0]
    if isinstance(error, duckdb.ParserException):
        return AthenaQueryError("SYNTAX_ERROR", f"line 1:1: {first}")
    if isinstance(error, duckdb.BinderException):
        if "column" in first.lower() and ("not found" in first.lower() or "referenced" in first.lower()):
            return AthenaQueryError("COLUMN_NOT_FOUND", f"line 1:1: {first}")
        if "function" in first.lower() or "No function matches" in first:
            return AthenaQueryError("FUNCTION_NOT_FOUND", f"line 1:1: {first}")
        return AthenaQueryError("TYPE_MISMATCH", f"line 1:1: {first}")
    if isinstance(error, duckdb.CatalogException):
        if "function" in first.lower():
            return AthenaQueryError("FUNCTION_NOT_FOUND", f"line 1:1: {first}")
        return AthenaQueryError("TABLE_NOT_FOUND", f"line 1:1: {first}")
    if isinstance(error, (duckdb.ConversionException, duckdb.InvalidInputException)):
        return AthenaQueryError("INVALID_CAST_ARGUMENT", first)
    if isinstance(error, duckdb.OutOfRangeException):
        return AthenaQueryError("NUMERIC_VALUE_OUT_OF_RANGE", first)
    return AthenaQueryError("GENERIC_INTERNAL_ERROR", first, category=1)


def _split_s3(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise AthenaQueryError("INVALID_TABLE_PROPERTY", f"'{uri}' is not an s3:// location")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


def _write_parquet(table: pa.Table, location: str, partitions: list[str], query_id: str,
                   put_object: PutObject) -> list[str]:
    paths = []
    groups: list[tuple[str, pa.Table]] = []
    if partitions:
        keys = table.select(partitions).to_pylist()
        seen: dict[tuple, list[int]] = {}
        for index, row in enumerate(keys):
            seen.setdefault(tuple(row[p] for p in partitions), []).append(index)
        data = table.drop_columns(partitions)
        for values, indices in seen.items():
            folder = "/".join(f"{p}={'__HIVE_DEFAULT_PARTITION__' if v is None else v}"
                              for p, v in zip(partitions, values))
            groups.append((folder + "/", data.take(pa.array(indices))))
    elif table.num_rows:
        groups.append(("", table))
    for number, (folder, part) in enumerate(groups):
        buffer = io.BytesIO()
        pq.write_table(part, buffer, compression="snappy")
        path = f"{location}{folder}{query_id}_{number:05d}"
        put_object(path, buffer.getvalue())
        paths.append(path)
    return paths
