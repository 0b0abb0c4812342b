"""Full load and change capture from PostgreSQL through logical decoding (the `pgoutput` plug-in, protocol 1),
as DMS does it for a PostgreSQL source: the engine behind the twin's DMS executor.

    capture = LogicalCapture(dsn, [("retail", "customers"), ...], slot="task_x", publication="retail_lake_cdc")
    loads = capture.start()            # creates the slot and reads every table in the slot's exported snapshot
    batch = capture.poll()             # changes committed since, decoded, in commit order (peeked, not consumed)
    capture.confirm(batch.end_lsn)     # advance the slot once the batch is safely written

The full load reads in the snapshot the slot exported when it was created, so the load and the changes meet
exactly: every change committed after the snapshot is in the stream, none before. Changes are peeked and the
slot advanced only after `confirm`, so a batch lost before it was written is decoded again.

Values: pgoutput sends text; they are typed by the column's type from the Relation message, with the same
Arrow type the full load uses for that column (`arrow_type`).
"""

from __future__ import annotations

import datetime as dt
import struct
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable

import pyarrow as pa

PG_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
# type oid -> (Arrow type, text parser)
_BOOL, _INT2, _INT4, _INT8, _TEXT, _FLOAT4, _FLOAT8, _VARCHAR, _BPCHAR = 16, 21, 23, 20, 25, 700, 701, 1043, 1042
_DATE, _TIMESTAMP, _TIMESTAMPTZ, _NUMERIC = 1082, 1114, 1184, 1700


def _timestamp(text: str) -> dt.datetime:
    if text[-3] in "+-" and text[-4] != ":":  # "+00" -> "+00:00"
        text += ":00"
    return dt.datetime.fromisoformat(text)


def arrow_type(type_oid: int, typmod: int) -> pa.DataType:
    """Arrow type of a PostgreSQL column; anything unmapped is carried as its text (as DMS carries it)."""
    if type_oid == _NUMERIC and typmod >= 4:
        precision, scale = ((typmod - 4) >> 16) & 0xFFFF, (typmod - 4) & 0xFFFF
        return pa.decimal128(precision, scale)
    return {
        _BOOL: pa.bool_(), _INT2: pa.int16(), _INT4: pa.int32(), _INT8: pa.int64(), _FLOAT4: pa.float32(),
        _FLOAT8: pa.float64(), _DATE: pa.date32(), _TIMESTAMP: pa.timestamp("us"),
        _TIMESTAMPTZ: pa.timestamp("us", tz="UTC"),
    }.get(type_oid, pa.string())


def text_parser(type_oid: int, typmod: int) -> Callable[[str], Any]:
    if type_oid == _NUMERIC and typmod >= 4:
        return Decimal
    return {
        _BOOL: lambda v: v == "t", _INT2: int, _INT4: int, _INT8: int, _FLOAT4: float, _FLOAT8: float,
        _DATE: dt.date.fromisoformat, _TIMESTAMP: dt.datetime.fromisoformat, _TIMESTAMPTZ: _timestamp,
    }.get(type_oid, str)


@dataclass
class Relation:
    oid: int
    schema: str
    name: str
    columns: list[str]
    type_oids: list[int]
    typmods: list[int]

    @property
    def parsers(self) -> list[Callable[[str], Any]]:
        return [text_parser(o, m) for o, m in zip(self.type_oids, self.typmods)]


@dataclass
class Change:
    op: str  # I, U or D
    schema: str
    table: str
    values: dict[str, Any]  # the new row (I, U), or the key / old row (D)
    commit_ts: dt.datetime
    commit_lsn: int
    index: int  # position in its transaction


@dataclass
class ChangeBatch:
    changes: list[Change] = field(default_factory=list)
    end_lsn: int | None = None  # confirm up to here (the last complete transaction's end)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, fmt: str) -> Any:
        value = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return value[0] if len(value) == 1 else value

    def string(self) -> str:
        end = self.data.index(b"\0", self.pos)
        text = self.data[self.pos:end].decode()
        self.pos = end + 1
        return text

    def tuple_data(self, relation: Relation) -> dict[str, Any]:
        values: dict[str, Any] = {}
        parsers = relation.parsers
        for i in range(self.take("!h")):
            kind = self.take("!c")
            if kind == b"n":
                values[relation.columns[i]] = None
            elif kind == b"u":  # unchanged TOASTed value: not sent; the merge keeps the stored one
                continue
            else:
                length = self.take("!i")
                raw = self.data[self.pos:self.pos + length].decode()
                self.pos += length
                values[relation.columns[i]] = parsers[i](raw)
        return values


class PgOutputDecoder:
    """Decodes pgoutput protocol-1 messages into `Change`s, keeping the relations it has been sent."""

    def __init__(self) -> None:
        self.relations: dict[int, Relation] = {}
        self._commit_ts: dt.datetime | None = None
        self._commit_lsn = 0
        self._pending: list[Change] = []

    def feed(self, message: bytes) -> tuple[list[Change], int | None]:
        """Decode one message; on a Commit, returns the transaction's changes and its end LSN."""
        r = _Reader(message)
        kind = r.take("!c")
        if kind == b"B":
            self._commit_lsn, micros, _xid = r.take("!QqI")
            self._commit_ts = PG_EPOCH + dt.timedelta(microseconds=micros)
            self._pending = []
        elif kind == b"C":
            _flags, _commit_lsn, end_lsn = r.take("!bQQ")
            done, self._pending = self._pending, []
            return done, end_lsn
        elif kind == b"R":
            oid, schema, name = r.take("!I"), r.string(), r.string()
            r.take("!b")  # replica identity
            columns, oids, mods = [], [], []
            for _ in range(r.take("!h")):
                r.take("!b")
                columns.append(r.string())
                oid_, mod = r.take("!Ii")
                oids.append(oid_)
                mods.append(mod)
            self.relations[oid] = Relation(oid, schema, name, columns, oids, mods)
        elif kind in (b"I", b"U", b"D"):
            relation = self.relations[r.take("!I")]
            marker = r.take("!c")
            if kind == b"U" and marker in (b"K", b"O"):  # old key/row before the new one
                r.tuple_data(relation)
                marker = r.take("!c")
            values = r.tuple_data(relation)
            assert self._commit_ts is not None, "a change outside a transaction"
            self._pending.append(Change(kind.decode(), relation.schema, relation.name, values, self._commit_ts,
                                        self._commit_lsn, len(self._pending)))
        elif kind == b"T":
            raise NotImplementedError("TRUNCATE of a replicated table: DMS needs a full reload of that table")
        # Y (type), O (origin), M (logical message): nothing to do
        return [], None


def relation_schema(conn: Any, schema: str, table: str) -> tuple[list[str], list[int], list[int]]:
    rows = conn.execute(
        "SELECT a.attname, a.atttypid, a.atttypmod FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 "
        "AND NOT a.attisdropped ORDER BY a.attnum", (schema, table)).fetchall()
    if not rows:
        raise LookupError(f"table {schema}.{table} does not exist in the source database")
    return [r[0] for r in rows], [int(r[1]) for r in rows], [int(r[2]) for r in rows]


def change_seq(commit_lsn: int, index: int) -> str:
    """A fixed-width (35 digits) string sorting in commit order, then statement order in the transaction."""
    return f"{commit_lsn:020d}{index:015d}"


class LogicalCapture:
    def __init__(self, dsn: str, tables: list[tuple[str, str]], *, slot: str, publication: str) -> None:
        self.dsn, self.tables, self.slot, self.publication = dsn, tables, slot, publication
        self.decoder = PgOutputDecoder()
        self._conn: Any = None

    def _connection(self) -> Any:
        import psycopg

        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.dsn, autocommit=True)
            self._conn.execute("SET TimeZone = 'UTC'; SET DateStyle = 'ISO'")
        return self._conn

    def slot_exists(self) -> bool:
        row = self._connection().execute("SELECT 1 FROM pg_replication_slots WHERE slot_name = %s",
                                         (self.slot,)).fetchone()
        return row is not None

    def start(self) -> dict[tuple[str, str], pa.Table]:
        """Create the slot (exporting its snapshot) and read every table in that snapshot."""
        import psycopg

        replication = psycopg.connect(self.dsn, replication="database", autocommit=True)
        try:
            result = replication.pgconn.exec_(
                f'CREATE_REPLICATION_SLOT "{self.slot}" LOGICAL pgoutput EXPORT_SNAPSHOT'.encode())
            if result.status != psycopg.pq.ExecStatus.TUPLES_OK:
                raise RuntimeError(f"creating replication slot {self.slot}: "
                                   f"{result.error_message.decode(errors='replace').strip()}")
            snapshot = result.get_value(0, 2).decode()
            with psycopg.connect(self.dsn) as reader:
                reader.execute("SET TimeZone = 'UTC'")
                reader.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                reader.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
                loads = {(s, t): self._read_table(reader, s, t) for s, t in self.tables}
                reader.rollback()
        finally:
            replication.close()
        return loads

    @staticmethod
    def _read_table(conn: Any, schema: str, table: str) -> pa.Table:
        columns, oids, mods = relation_schema(conn, schema, table)
        rows = conn.execute(f'SELECT * FROM "{schema}"."{table}"').fetchall()
        arrays = [pa.array([row[i] for row in rows], type=arrow_type(o, m)) for i, (o, m) in
                  enumerate(zip(oids, mods))]
        return pa.Table.from_arrays(arrays, names=columns)

    def poll(self, max_changes: int = 50_000) -> ChangeBatch:
        """Changes committed since the last confirmed position, whole transactions only."""
        conn = self._connection()
        rows = conn.execute(
            "SELECT lsn::text, data FROM pg_logical_slot_peek_binary_changes(%s, NULL, %s, 'proto_version', '1', "
            "'publication_names', %s)", (self.slot, max_changes, self.publication)).fetchall()
        selected = set(self.tables)
        batch = ChangeBatch()
        for _lsn_text_value, data in rows:
            changes, end_lsn = self.decoder.feed(bytes(data))
            if end_lsn is not None:
                batch.changes += [c for c in changes if (c.schema, c.table) in selected]
                batch.end_lsn = end_lsn
        return batch

    def confirm(self, lsn: int) -> None:
        self._connection().execute("SELECT pg_replication_slot_advance(%s, %s::pg_lsn)", (self.slot, _lsn_text(lsn)))

    def caught_up_to(self, lsn: int) -> bool:
        row = self._connection().execute(
            "SELECT confirmed_flush_lsn >= %s::pg_lsn FROM pg_replication_slots WHERE slot_name = %s",
            (_lsn_text(lsn), self.slot)).fetchone()
        return bool(row and row[0])

    def current_lsn(self) -> int:
        return _lsn(self._connection().execute("SELECT pg_current_wal_lsn()::text").fetchone()[0])

    def column_types(self, schema: str, table: str) -> tuple[list[str], list[pa.DataType]]:
        columns, oids, mods = relation_schema(self._connection(), schema, table)
        return columns, [arrow_type(o, m) for o, m in zip(oids, mods)]

    def drop_slot(self) -> None:
        self._connection().execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s", (self.slot,))

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _lsn(text: str) -> int:
    high, low = text.split("/")
    return (int(high, 16) << 32) | int(low, 16)


def _lsn_text(lsn: int) -> str:
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"
