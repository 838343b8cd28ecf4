-- Study packs (学习资源包, DESIGN.md section 2): stored by the registry from study.published,
-- sent by the scheduler on the activity day or at send_at.
CREATE TABLE study_packs (
    id                    text PRIMARY KEY,
    title                 text NOT NULL,
    summary               text NOT NULL,
    items                 jsonb NOT NULL,
    -- Each org id means that org's subtree; region codes are at any level (6, 9 or 12 digits,
    -- provinces and cities padded with zeros).
    audience_org_ids      text[] NOT NULL,
    audience_region_codes text[] NOT NULL,
    published_by          text NOT NULL REFERENCES orgs (id),
    -- NULL: the next activity day (每月9日).
    send_at               timestamptz,
    published_at          timestamptz NOT NULL,
    event_id              uuid NOT NULL,
    -- Set by the scheduler in the transaction that queues the pack's broadcasts.
    sent_at               timestamptz,
    state_at              timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX study_packs_unsent ON study_packs (send_at) WHERE sent_at IS NULL;

-- study.completed, once per member and pack; counts as organizational life (lapse warning).
CREATE TABLE study_completions (
    member_id    text NOT NULL REFERENCES members (id),
    pack_id      text NOT NULL REFERENCES study_packs (id),
    completed_on date NOT NULL,
    event_id     uuid NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (member_id, pack_id)
);
CREATE INDEX study_completions_member ON study_completions (member_id, completed_on DESC);
CREATE INDEX study_completions_pack ON study_completions (pack_id);

-- Quarterly dispatch reports (一季一调度, DESIGN.md section 4): written by the scheduler,
-- served by the API. `report` is the JSON of section 4 exactly as served.
CREATE TABLE dispatch_reports (
    id           uuid PRIMARY KEY,
    org_id       text NOT NULL REFERENCES orgs (id),
    quarter      text NOT NULL CHECK (quarter ~ '^[0-9]{4}Q[1-4]$'),
    generated_at timestamptz NOT NULL,
    report       json NOT NULL,
    UNIQUE (org_id, quarter)
);
