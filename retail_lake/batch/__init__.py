"""The batch layer's logic: pure DataFrame -> DataFrame functions the Glue and EMR entry scripts share.

- `curated`: raw -> curated (cast to the contract, dedupe, event date, conformed keys, POS sale lines);
- `analytics`: curated -> analytics (daily sales, inventory position, customer 360, web sessions, funnel);
- `windows`: which raw partitions a run reads and which curated partitions it rewrites;
- `partitions`: rewriting a window of date partitions with no stale partition left (the one writer the entry
  scripts share); `reference`: the one reader of the reference dimensions.

Apart from `partitions` and `reference`, nothing here reads or writes files; nothing creates a SparkSession or
imports Glue: the entry scripts do the rest of the I/O.
"""
