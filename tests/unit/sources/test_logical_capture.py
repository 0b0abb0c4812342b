"""The twin's PostgreSQL lifecycle and the logical-decoding capture behind its DMS executor, on a real server."""

from __future__ import annotations

import datetime as dt
import socket
from decimal import Decimal

import psycopg
import pytest

from retail_lake.sources.operational_db import workload
from retail_lake.sources.operational_db.tables import SCHEMA, TABLES
from retail_lake.twin.logical_decoding import LogicalCapture
from retail_lake.twin.postgres import LocalPostgres

TABLE_NAMES = [(SCHEMA, t.name) for t in TABLES]


@pytest.fixture(scope="module")
def pg():
    with LocalPostgres() as server:
        with psycopg.connect(server.dsn, autocommit=True) as conn:
            workload.create_schema(conn)
            workload.seed(conn, workload.Scale(stores=2, customers=10, products=10, orders=5), seed=3)
        yield server


def test_server_runs_on_loopback_with_logical_wal_and_is_removed_afterwards() -> None:
    server = LocalPostgres().start()
    data_dir, port = server.data_dir, server.port
    try:
        with psycopg.connect(server.dsn) as conn:
            assert conn.execute("SHOW wal_level").fetchone() == ("logical",)
            assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
        with pytest.raises(psycopg.OperationalError):  # password authentication
            psycopg.connect(server.dsn.replace(f"password={server.password}", "password=wrong"))
    finally:
        server.stop()
    assert not data_dir.exists()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_the_schema_keys_are_the_primary_keys_the_merge_uses(pg) -> None:
    with psycopg.connect(pg.dsn) as conn:
        for table in TABLES:
            keys = [r[0] for r in conn.execute(
                "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
                "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary "
                "ORDER BY array_position(i.indkey, a.attnum)", (table.qualified,)).fetchall()]
            assert tuple(keys) == table.keys, table.name


# PostgreSQL type (format_type) -> the lake type its column is declared with in tables.py
_LAKE_TYPES = {"text": "string", "bigint": "bigint", "integer": "int", "boolean": "boolean", "date": "date",
               "timestamp with time zone": "timestamp"}


def test_the_declared_columns_and_lake_types_are_the_database_columns(pg) -> None:
    with psycopg.connect(pg.dsn) as conn:
        for table in TABLES:
            rows = conn.execute(
                "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
                "WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                (table.qualified,)).fetchall()
            in_database = [(name, _LAKE_TYPES.get(pg_type) or pg_type.replace("numeric", "decimal").replace(", ", ","))
                           for name, pg_type in rows]
            assert in_database == [(c.name, c.lake_type) for c in table.columns], table.name

def test_load_and_changes_meet_exactly_and_decode_typed_in_commit_order(pg) -> None:
    capture = LogicalCapture(pg.dsn, TABLE_NAMES, slot="test_capture", publication="retail_lake_cdc")
    try:
        with psycopg.connect(pg.dsn, autocommit=True) as conn:
            loads = capture.start()
            loaded_customers = loads[(SCHEMA, "customers")].num_rows
            assert loaded_customers == conn.execute(f"SELECT count(*) FROM {SCHEMA}.customers").fetchone()[0]
            with conn.transaction():
                conn.execute(f"UPDATE {SCHEMA}.products SET list_price = 12.34 WHERE product_id = 'SKU-000001'")
                conn.execute(f"UPDATE {SCHEMA}.products SET list_price = 12.35 WHERE product_id = 'SKU-000001'")
            conn.execute(f"DELETE FROM {SCHEMA}.customers WHERE customer_id = 'C0000002'")
            batch = capture.poll()
        ops = [(c.op, c.table) for c in batch.changes]
        # the erased customer's orders lose their customer (ON DELETE SET NULL): updates after the delete
        assert ops[:3] == [("U", "products"), ("U", "products"), ("D", "customers")]
        assert set(ops[3:]) <= {("U", "online_orders")}
        assert all(c.values["customer_id"] is None for c in batch.changes[3:])
        first, second = batch.changes[:2]
        assert first.values["list_price"] == Decimal("12.34") and second.values["list_price"] == Decimal("12.35")
        assert first.commit_ts == second.commit_ts and (first.commit_lsn, first.index) < (second.commit_lsn, second.index)
        assert isinstance(first.values["updated_at"], dt.datetime) and first.values["updated_at"].tzinfo is not None
        assert batch.changes[2].values["customer_id"] == "C0000002"
        capture.confirm(batch.end_lsn)
        assert capture.poll().changes == []  # confirmed changes are not decoded again
    finally:
        capture.drop_slot()
        capture.close()
