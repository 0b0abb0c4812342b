-- Top 20 SKUs by net sales over every day in the lake, with their product name and category.
SELECT
    d.sku,
    p.name AS product_name,
    p.category,
    SUM(d.units) AS units,
    SUM(d.net_sales) AS net_sales
FROM ${analytics}.daily_sales AS d
LEFT JOIN ${analytics}.dim_product AS p ON p.sku = d.sku
GROUP BY d.sku, p.name, p.category
ORDER BY net_sales DESC, d.sku
LIMIT 20
