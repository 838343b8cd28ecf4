-- API keys (DESIGN.md section 7): one org per key. Only the SHA-256 of the key is stored;
-- the key itself is printed once by `hongyan keys create` and never logged.
CREATE TABLE api_keys (
    id           uuid PRIMARY KEY,
    org_id       text NOT NULL REFERENCES orgs (id),
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    -- SHA-256 of the whole key text, 32 bytes.
    key_sha256   bytea NOT NULL UNIQUE CHECK (length(key_sha256) = 32),
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX api_keys_org ON api_keys (org_id, created_at);
