-- The ledger (DESIGN.md section 3). PostgreSQL is the truth; Redis is a disposable read model.

-- The org tree. `path` lists ids from the root down to the org itself, so "is X within Y's
-- subtree" is `Y = ANY(X.path)`, the one question every rights check asks.
CREATE TABLE orgs (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    kind        text NOT NULL,
    parent_id   text REFERENCES orgs (id),
    path        text[] NOT NULL,
    region_code text NOT NULL,
    contact     jsonb NOT NULL,
    chat        jsonb,
    lon         double precision,
    lat         double precision,
    state_at    timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orgs_path ON orgs USING gin (path);
CREATE INDEX orgs_stations ON orgs (region_code) WHERE kind = 'station';

-- Members as their home branch registered them; `doc` is the whole member.upserted data.
CREATE TABLE members (
    id          text PRIMARY KEY,
    home_org_id text NOT NULL REFERENCES orgs (id),
    phone       text NOT NULL,
    doc         jsonb NOT NULL,
    state_at    timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX members_phone ON members (phone);
CREATE INDEX members_home ON members (home_org_id);

-- One row per time away (flow record). The columns are what the ledger is searched and
-- counted by; `doc` holds the whole record as the domain sees it.
CREATE TABLE flow_records (
    id                 uuid PRIMARY KEY,
    member_id          text NOT NULL REFERENCES members (id),
    home_org_id        text NOT NULL REFERENCES orgs (id),
    status             text NOT NULL,
    is_open            boolean NOT NULL,
    region_code        text NOT NULL,
    inflow_org_id      text,
    certificate_no     text UNIQUE,
    phone              text NOT NULL,
    last_confirmed_on  date,
    months_unconfirmed integer NOT NULL DEFAULT 0,
    version            bigint NOT NULL,
    state_at           timestamptz NOT NULL,
    doc                jsonb NOT NULL,
    opened_at          timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
) WITH (fillfactor = 80); -- room on each page for HOT updates: monthly updates touch no index
-- A member has at most one open record.
CREATE UNIQUE INDEX flow_records_one_open ON flow_records (member_id) WHERE is_open;
CREATE INDEX flow_records_home ON flow_records (home_org_id) WHERE is_open;
CREATE INDEX flow_records_region ON flow_records (region_code) WHERE is_open;
CREATE INDEX flow_records_member_version ON flow_records (member_id, version DESC);

-- Every event that reached the ledger, applied or not (an event older than the ledger's state
-- is kept here but changes nothing). Append-only.
CREATE TABLE history (
    id          bigserial PRIMARY KEY,
    event_id    uuid NOT NULL,
    event_type  text NOT NULL,
    member_id   text,
    org_id      text,
    record_id   uuid,
    occurred_at timestamptz NOT NULL,
    actor       jsonb NOT NULL,
    data        jsonb NOT NULL,
    applied     boolean NOT NULL,
    note        text,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX history_member ON history (member_id, occurred_at) WHERE member_id IS NOT NULL;

CREATE FUNCTION history_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'history is append-only: record a new event instead of changing an old one';
END;
$$;
CREATE TRIGGER history_append_only BEFORE UPDATE OR DELETE ON history
    FOR EACH ROW EXECUTE FUNCTION history_is_append_only();

-- Idempotency: an event id is recorded in the same transaction as its effect.
CREATE TABLE processed_events (
    event_id     uuid PRIMARY KEY,
    processed_at timestamptz NOT NULL DEFAULT now()
);

-- The outbox: messages that must follow a commit, relayed to RabbitMQ with confirms.
CREATE TABLE outbox (
    id          bigserial PRIMARY KEY,
    routing_key text NOT NULL,
    message_id  text NOT NULL,
    payload     jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Activity-certificate numbers: a 5-digit sequence per county and year.
CREATE TABLE certificate_sequences (
    county   text NOT NULL,
    year     integer NOT NULL,
    last_seq integer NOT NULL,
    PRIMARY KEY (county, year)
);

-- Arrivals that match nobody: they wait in the receiving org's and the county's list.
CREATE TABLE unmatched_arrivals (
    event_id         uuid PRIMARY KEY,
    receiving_org_id text NOT NULL REFERENCES orgs (id),
    county           text NOT NULL,
    name             text NOT NULL,
    phone            text NOT NULL,
    arrived_on       date NOT NULL,
    location         jsonb NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    resolved_at      timestamptz
);
CREATE INDEX unmatched_open ON unmatched_arrivals (county) WHERE resolved_at IS NULL;
