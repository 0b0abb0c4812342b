-- The latest inventory snapshot: one row per store and SKU as of the newest as_of_date.
CREATE OR REPLACE VIEW ${analytics}.v_inventory_latest AS
SELECT
    i.as_of_date,
    i.store_id,
    i.sku,
    i.on_hand,
    i.units_sold_28d,
    i.days_of_cover,
    i.stockout
FROM ${analytics}.inventory_position AS i
WHERE i.as_of_date = (SELECT MAX(as_of_date) FROM ${analytics}.inventory_position)
