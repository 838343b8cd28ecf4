-- Notifications (DESIGN.md section 5): one row per notification, keyed for idempotency, and
-- one row per delivery attempt.

CREATE TABLE notifications (
    id                  uuid PRIMARY KEY,
    -- Deterministic (e.g. template + event + person): the same key twice sends once.
    key                 text NOT NULL UNIQUE,
    template            text NOT NULL,
    recipient           jsonb NOT NULL,
    params              jsonb NOT NULL,
    caused_by           uuid,
    -- The channels to try, in order; `channel_index` is the one in use.
    channels            text[] NOT NULL,
    channel_index       integer NOT NULL DEFAULT 0,
    -- pending (waiting for next_attempt_at), sending (claimed by a worker until
    -- claimed_until), delivered, failed.
    status              text NOT NULL DEFAULT 'pending',
    attempts            integer NOT NULL DEFAULT 0,
    next_attempt_at     timestamptz NOT NULL,
    claimed_until       timestamptz,
    useful_until        timestamptz NOT NULL,
    provider            text,
    provider_message_id text,
    last_error          text,
    receipt             text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE status IN ('pending', 'sending');
CREATE INDEX notifications_provider_message ON notifications (provider, provider_message_id) WHERE provider_message_id IS NOT NULL;

-- Every attempt: provider, provider message id, status, error code, latency.
CREATE TABLE delivery_attempts (
    id                  bigserial PRIMARY KEY,
    notification_id     uuid NOT NULL REFERENCES notifications (id),
    attempt             integer NOT NULL,
    channel             text NOT NULL,
    provider            text NOT NULL,
    provider_message_id text,
    status              text NOT NULL,
    error_code          text,
    error               text,
    latency_ms          integer NOT NULL,
    at                  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX delivery_attempts_notification ON delivery_attempts (notification_id);
