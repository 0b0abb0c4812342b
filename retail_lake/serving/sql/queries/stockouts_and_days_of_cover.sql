-- Stockouts and low cover in the latest inventory snapshot: every store x SKU out of stock or with less than
-- 7 days of cover at the last 28 days' rate of sale, out-of-stock first, then the shortest cover.
SELECT
    as_of_date,
    store_id,
    sku,
    on_hand,
    units_sold_28d,
    days_of_cover,
    stockout
FROM ${analytics}.v_inventory_latest
WHERE stockout OR days_of_cover < 7
ORDER BY stockout DESC, days_of_cover ASC NULLS FIRST, store_id, sku
