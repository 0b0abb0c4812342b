"""Serving: the SQL business users run on the lake and the code that runs it.

- `sql/views/*.sql`, `sql/queries/*.sql`: Athena views over the analytics tables and the named queries for the
  business questions (`catalog`: their registry and rendering with the stage's database names);
- `sql/redshift/*.sql`: the Redshift Serverless external schema (Spectrum over the Glue catalog) and the load of
  the analytics tables (`redshift`: running them through the Redshift Data API);
- `reference`: the Glue columns of the reference dimensions (stores, products) the views join;
- `athena`: run a statement through the Athena API and read its rows (the CLI's `query`, the report, the views);
- `report`: the HTML report of the gold tables and the data-quality summary.
"""
