-- The operational store the retailer runs: customers, products, stores, online orders and their lines.
-- Replicated into the lake by DMS (full load + CDC through logical decoding); see docs/sources.md.
CREATE SCHEMA IF NOT EXISTS retail;

CREATE TABLE retail.stores (
    store_id     text PRIMARY KEY,
    name         text NOT NULL,
    city         text NOT NULL,
    region       text NOT NULL,
    latitude     numeric(9, 6) NOT NULL,
    longitude    numeric(9, 6) NOT NULL,
    timezone     text NOT NULL,
    opened_on    date NOT NULL
);

CREATE TABLE retail.customers (
    customer_id  text PRIMARY KEY,
    first_name   text NOT NULL,
    last_name    text NOT NULL,
    email        text NOT NULL,
    phone        text,
    street       text NOT NULL,
    city         text NOT NULL,
    postal_code  text NOT NULL,
    loyalty_tier text NOT NULL CHECK (loyalty_tier IN ('none', 'silver', 'gold', 'platinum')),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE retail.products (
    product_id   text PRIMARY KEY,
    name         text NOT NULL,
    category     text NOT NULL,
    brand        text NOT NULL,
    unit_cost    numeric(10, 2) NOT NULL CHECK (unit_cost >= 0),
    list_price   numeric(10, 2) NOT NULL CHECK (list_price >= 0),
    active       boolean NOT NULL DEFAULT true,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE retail.online_orders (
    order_id     bigint PRIMARY KEY,
    customer_id  text REFERENCES retail.customers (customer_id) ON DELETE SET NULL,
    store_id     text NOT NULL REFERENCES retail.stores (store_id),
    status       text NOT NULL CHECK (status IN ('placed', 'paid', 'shipped', 'delivered', 'cancelled')),
    total_amount numeric(12, 2) NOT NULL,
    ordered_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE retail.order_lines (
    order_id     bigint NOT NULL REFERENCES retail.online_orders (order_id) ON DELETE CASCADE,
    line_number  integer NOT NULL,
    product_id   text NOT NULL,
    quantity     integer NOT NULL CHECK (quantity > 0),
    unit_price   numeric(10, 2) NOT NULL,
    PRIMARY KEY (order_id, line_number)
);

-- Logical decoding (pgoutput) publishes the replicated tables; DMS creates the slot.
CREATE PUBLICATION retail_lake_cdc FOR TABLE
    retail.stores, retail.customers, retail.products, retail.online_orders, retail.order_lines;
