"""Athena's query engine on the twin: Athena (Trino) SQL translated with sqlglot and run by DuckDB over the data
of the Glue catalog tables a query names (read from the twin's S3), with Athena's result types and error shape.

- `types`: Arrow/DuckDB result types as Athena reports them (`ColumnInfo`), values as Athena prints them, and
  Glue (Hive) column types to Arrow;
- `tables`: a Glue table's objects on S3 as one Arrow table (Hive-style partitions, projection templates);
- `statements`: what a statement is (query, CREATE VIEW, CTAS, DROP), the tables it names, Presto view text;
- `engine`: runs one statement: resolves tables and views through the Glue API, executes on DuckDB.

The executor that puts this behind moto's Athena API is `retail_lake.twin.executors.athena`.
"""
