-- Daily sales by store and region: units and money per day, store and region, newest day first.
SELECT
    event_date,
    region,
    store_id,
    store_name,
    units,
    gross_sales,
    discounts,
    net_sales
FROM ${analytics}.v_daily_sales_by_store
ORDER BY event_date DESC, region, store_id
