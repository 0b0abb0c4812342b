-- Daily sales per store, with the store's name and region (all SKUs of the store and day together).
CREATE OR REPLACE VIEW ${analytics}.v_daily_sales_by_store AS
SELECT
    d.event_date,
    d.store_id,
    s.name AS store_name,
    s.region,
    SUM(d.units) AS units,
    SUM(d.gross_sales) AS gross_sales,
    SUM(d.discounts) AS discounts,
    SUM(d.net_sales) AS net_sales
FROM ${analytics}.daily_sales AS d
LEFT JOIN ${analytics}.dim_store AS s ON s.store_id = d.store_id
GROUP BY d.event_date, d.store_id, s.name, s.region
