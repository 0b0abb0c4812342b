-- Load one analytics table into the warehouse: rebuilt in full from the lake in one transaction (the Data API's
-- BatchExecuteStatement runs the statements of a batch as one transaction), so readers see the old or the new
-- table, never a partial one.
DROP TABLE IF EXISTS ${target_schema}.${table};
CREATE TABLE ${target_schema}.${table} AS SELECT * FROM ${external_schema}.${table}
