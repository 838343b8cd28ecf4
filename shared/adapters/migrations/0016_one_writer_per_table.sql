-- One writer per table (issue 16). The registry alone writes the ledger's tables (orgs,
-- members, flow_records, history, processed_events, certificate_sequences,
-- unmatched_arrivals, study_packs, study_completions); every other role reads them through
-- views published here, named for their reader as migration 0014 names the notifier's.
--
-- The views are the only SQL outside the registry that reads the ledger's JSON documents
-- (`doc->>'…'`). Those documents are the serde shape of `hongyan_domain::ledger::FlowRecord`
-- and `hongyan_domain::payloads::MemberUpsert`; tests/it/ledger_views.rs writes a record of
-- every field through the registry and reads each column back, so a renamed field fails there
-- rather than silently turning a column NULL.

-- Months unconfirmed (一月一更新, DESIGN.md section 4): the whole calendar months strictly
-- between the month of the last confirmation and the month of `today` (confirmed in October,
-- read on any day of December: one, November). The same rule as
-- `hongyan_domain::rules::monthly::months_unconfirmed`; tests/it/ledger_views.rs checks the two
-- agree over four years of days. It used to be stored by the scheduler's monthly review, a
-- second writer of flow_records; it follows from the last confirmation and the day, so it is
-- computed where it is read.
CREATE FUNCTION ledger_months_unconfirmed(last_confirmed date, today date) RETURNS integer
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT greatest(
        (extract(year FROM today)::integer * 12 + extract(month FROM today)::integer)
        - (extract(year FROM last_confirmed)::integer * 12 + extract(month FROM last_confirmed)::integer)
        - 1,
        0)
$$;

-- What the review stored goes: the months (computed where read), the ladder's flags (`stale`,
-- `lost_contact`: derived where read from the months and `[policy]`). Other flags stay.
ALTER TABLE flow_records DROP COLUMN months_unconfirmed;
UPDATE flow_records
SET doc = jsonb_set(doc - 'months_unconfirmed', '{flags}', COALESCE(
        (SELECT jsonb_agg(f) FROM jsonb_array_elements(doc->'flags') f
         WHERE f #>> '{}' NOT IN ('stale', 'lost_contact')),
        '[]'::jsonb))
WHERE doc ? 'months_unconfirmed' OR doc->'flags' ?| ARRAY['stale', 'lost_contact'];

-- When the scheduler sent a study pack out: the scheduler's own table, where it used to set
-- study_packs.sent_at on the registry's.
CREATE TABLE study_pack_sends (
    pack_id text PRIMARY KEY REFERENCES study_packs (id),
    sent_at timestamptz NOT NULL
);
INSERT INTO study_pack_sends (pack_id, sent_at)
SELECT id, sent_at FROM study_packs WHERE sent_at IS NOT NULL;
ALTER TABLE study_packs DROP COLUMN sent_at;
CREATE INDEX study_packs_send_at ON study_packs (send_at);

-- A county department (县级党委组织部门): a department whose region code is a county's
-- (6 digits, not ending in 00). The same rule as `hongyan_domain::regions::is_county_department`; tests/it/ledger_views.rs
-- checks they agree.
CREATE FUNCTION ledger_is_county_department(kind text, region_code text) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT kind = 'department' AND length(region_code) = 6 AND right(region_code, 2) <> '00'
$$;

-- The monthly review's read of one open record (scheduler/src/monthly/review.rs): the day its
-- months are counted from, what counts as organizational life, the place and the employer,
-- the branch and the county department over it (the nearest, with their contacts).
CREATE VIEW scheduler_review_records AS
SELECT r.id AS record_id,
       r.member_id,
       COALESCE(m.doc->>'name', r.member_id) AS member_name,
       r.home_org_id,
       COALESCE(r.last_confirmed_on, (r.doc->>'left_on')::date, (r.doc->>'arrived_on')::date,
                r.opened_at::date) AS confirmed_on,
       COALESCE((r.doc->>'transfer_suggested')::boolean, false) AS transfer_suggested,
       GREATEST((r.doc->'contacts'->>'talk')::date, (r.doc->'contacts'->>'family_visit')::date,
                (r.doc->'contacts'->>'home_meeting')::date, (r.doc->'contacts'->>'phone')::date,
                (SELECT max(s.completed_on) FROM study_completions s
                 WHERE s.member_id = r.member_id)) AS life_on,
       COALESCE((r.doc->>'arrived_on')::date, (r.doc->>'left_on')::date) AS at_place_since,
       COALESCE(r.doc->'location'->>'employer', '') <> '' AS has_employer,
       b.name AS branch_name,
       b.contact AS branch_contact,
       d.id AS county_id,
       d.name AS county_name,
       d.contact AS county_contact
FROM flow_records r
JOIN members m ON m.id = r.member_id
JOIN orgs b ON b.id = r.home_org_id
LEFT JOIN LATERAL (
    SELECT o.id, o.name, o.contact FROM orgs o
    WHERE o.id = ANY (b.path) AND ledger_is_county_department(o.kind, o.region_code)
    ORDER BY cardinality(o.path) DESC LIMIT 1) d ON true
WHERE r.is_open;

-- The ledger export's rows (api/src/ledger/query.rs): section 3's columns of each open record,
-- each field taken out of the document here, with the day its months are counted from.
CREATE VIEW api_ledger_records AS
SELECT r.home_org_id,
       r.member_id,
       r.status,
       r.region_code,
       r.inflow_org_id,
       r.certificate_no,
       r.phone,
       r.last_confirmed_on,
       COALESCE(r.last_confirmed_on, (r.doc->>'left_on')::date, (r.doc->>'arrived_on')::date,
                r.opened_at::date) AS confirmed_on,
       r.version,
       (r.doc->>'left_on')::date AS left_on,
       r.doc->>'reason' AS reason,
       r.doc#>>'{location,address}' AS address,
       r.doc#>>'{location,employer}' AS employer,
       r.doc#>>'{location,employer_type}' AS employer_type,
       r.doc#>>'{inflow_contact,name}' AS contact_name,
       r.doc#>>'{inflow_contact,phone}' AS contact_phone,
       (r.doc#>>'{contacts,talk}')::date AS talk,
       (r.doc#>>'{contacts,family_visit}')::date AS family_visit,
       r.doc->'flags' AS flags,
       (r.doc->>'transfer_suggested')::boolean AS transfer_suggested,
       m.doc->>'name' AS member_name,
       i.name AS inflow_org_name
FROM flow_records r
JOIN members m ON m.id = r.member_id
LEFT JOIN orgs i ON i.id = r.inflow_org_id
WHERE r.is_open;
