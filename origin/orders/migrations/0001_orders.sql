-- Orders (YugabyteDB in production, PostgreSQL wire). The order document is
-- JSONB; queried fields have columns. Only plain PostgreSQL DDL is used, so
-- the same migrations run on YugabyteDB's YSQL.
CREATE TABLE IF NOT EXISTS orders (
    id          UUID PRIMARY KEY,
    buyer_id    UUID NOT NULL,
    status      TEXT NOT NULL,
    doc         JSONB NOT NULL,
    refund_keys JSONB NOT NULL DEFAULT '{}',
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_buyer_idx ON orders (buyer_id, created_at DESC);

CREATE TABLE IF NOT EXISTS order_sellers (
    order_id   UUID NOT NULL REFERENCES orders (id),
    seller_id  UUID NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (seller_id, order_id)
);

CREATE TABLE IF NOT EXISTS checkout_keys (
    buyer_id    UUID NOT NULL,
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    response    JSONB,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (buyer_id, key)
);

CREATE TABLE IF NOT EXISTS orders_outbox (
    seq          BIGSERIAL PRIMARY KEY,
    id           UUID NOT NULL UNIQUE,
    event_type   TEXT NOT NULL,
    version      SMALLINT NOT NULL,
    occurred_at  TIMESTAMPTZ NOT NULL,
    region       TEXT NOT NULL,
    aggregate_id TEXT NOT NULL,
    payload      JSONB NOT NULL,
    published_at TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS orders_outbox_pending_idx ON orders_outbox (seq) WHERE published_at IS NULL;
