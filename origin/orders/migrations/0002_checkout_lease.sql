-- A claimed checkout key is held for a lease: a claim whose checkout never
-- finished (the process died) expires, and a retry with the key runs.
-- Claims that exist now get an expired lease, so they are reclaimable.
ALTER TABLE checkout_keys ADD COLUMN IF NOT EXISTS lease_until TIMESTAMPTZ NOT NULL DEFAULT now();
