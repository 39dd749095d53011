-- Shops, seller API keys and the sellers outbox. One shop per owner; slugs
-- unique; keys stored only as their SHA-256.
CREATE TABLE IF NOT EXISTS shops (
    id            UUID PRIMARY KEY,
    owner_id      UUID NOT NULL,
    name          TEXT NOT NULL,
    slug          TEXT NOT NULL,
    description   TEXT NOT NULL,
    contact_email TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    CONSTRAINT shops_owner_key UNIQUE (owner_id),
    CONSTRAINT shops_slug_key UNIQUE (slug)
);

CREATE TABLE IF NOT EXISTS api_keys (
    id         UUID PRIMARY KEY,
    seller_id  UUID NOT NULL REFERENCES shops (id),
    name       TEXT NOT NULL,
    prefix     TEXT NOT NULL,
    hash       TEXT NOT NULL,
    scopes     TEXT[] NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ,
    CONSTRAINT api_keys_hash_key UNIQUE (hash)
);
CREATE INDEX IF NOT EXISTS api_keys_seller_idx ON api_keys (seller_id, created_at DESC);

CREATE TABLE IF NOT EXISTS sellers_outbox (
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
CREATE INDEX IF NOT EXISTS sellers_outbox_pending_idx ON sellers_outbox (seq) WHERE published_at IS NULL;
