-- Issue 16, second pass: the SQL twins of domain rules, and the views the scheduler's jobs read
-- the ledger through. tests/it/ledger_views.rs (and its scheduler.rs) checks each function against its domain rule and
-- reads each view's columns back against the record as the codec reads it.

-- A county department (县级党委组织部门): the same rule as
-- `hongyan_domain::regions::is_county_department`, now through `department_level`, which reads
-- a region code only when it is six digits (a code with a letter is no county's).
CREATE OR REPLACE FUNCTION ledger_is_county_department(kind text, region_code text) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT kind = 'department' AND region_code ~ '^[0-9]{6}$' AND right(region_code, 2) <> '00'
$$;

-- Where a member went, compared with the home branch's region: the dispatch report's
-- destination classes, `hongyan_domain::regions::destination` (Destination::as_str).
CREATE FUNCTION ledger_destination_class(home text, away text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE WHEN left(away, 4) = left(home, 4) THEN 'in_city'
                WHEN left(away, 2) = left(home, 2) THEN 'in_province_cross_city'
                ELSE 'cross_province' END
$$;

-- The scheduler's read model of the ledger (issue 16, "Readers behind views"): what its jobs
-- read, named for them, as 0014 does for the notifier and 0016 for the monthly review. These
-- are the only SQL of the scheduler that reads the ledger's documents; each view is a plain
-- projection, so a job's query plans as it did on the tables (and the expression index of
-- 0012 still serves the birthday's look-up).

-- A member as the jobs read them (monthly/reminder.rs, jobs/birthday.rs, jobs/talk.rs,
-- jobs/family.rs, study.rs): the name, the current home and phone, the day they joined the
-- party as stored (`YYYY-MM-DD` text: members_joined_day indexes its `MM-DD`), their own
-- channels (a JSON array) and their paired committee member (null when none; an empty phone
-- counts as none).
CREATE VIEW scheduler_members AS
SELECT m.id AS member_id,
       m.doc->>'name' AS name,
       m.phone,
       m.home_org_id,
       m.doc->>'joined_party_on' AS joined_party_on,
       m.doc->'channels' AS channels,
       m.doc->'pair'->>'name' AS pair_name,
       NULLIF(m.doc->'pair'->>'phone', '') AS pair_phone
FROM members m;

-- A flow record as the jobs read it: its columns, and from its document the days it started
-- and the last talk and family visit.
CREATE VIEW scheduler_records AS
SELECT r.id AS record_id,
       r.member_id,
       r.home_org_id,
       r.is_open,
       r.phone,
       r.last_confirmed_on,
       r.opened_at,
       (r.doc->>'left_on')::date AS left_on,
       (r.doc->>'arrived_on')::date AS arrived_on,
       (r.doc->'contacts'->>'talk')::date AS talk_on,
       (r.doc->'contacts'->>'family_visit')::date AS family_visit_on
FROM flow_records r;

-- A flow record as the quarterly dispatch counts it (dispatch/figures.rs): the document is
-- read once per record (`jsonb_to_record`) rather than once per field the figures look at.
CREATE VIEW scheduler_dispatch_records AS
SELECT r.home_org_id,
       r.member_id,
       r.status,
       r.is_open,
       r.region_code,
       r.certificate_no,
       r.last_confirmed_on,
       r.opened_at,
       d.left_on,
       d.arrived_on,
       d.closed_on,
       (d.contacts->>'talk')::date AS talk_on,
       (d.contacts->>'family_visit')::date AS family_visit_on,
       (d.contacts->>'home_meeting')::date AS home_meeting_on,
       (d.contacts->>'phone')::date AS phone_call_on,
       d.transfer_suggested,
       d.location->>'employer_type' AS employer_type
FROM flow_records r
CROSS JOIN LATERAL jsonb_to_record(r.doc) AS d(left_on date, arrived_on date, closed_on date,
    transfer_suggested boolean, contacts jsonb, location jsonb);

-- An org as the jobs read it: its place in the tree, its contact (`org.upserted`'s
-- `contact`) and whether it has a group robot.
CREATE VIEW scheduler_orgs AS
SELECT o.id AS org_id,
       o.name,
       o.kind,
       o.path,
       o.region_code,
       o.contact->>'name' AS contact_name,
       o.contact->>'phone' AS contact_phone,
       o.chat IS NOT NULL AND o.chat <> 'null'::jsonb AS has_robot
FROM orgs o;

-- The applied events about members, for the dispatch's monthly compliance (a departure, an
-- arrival or an update confirms the member that month).
CREATE VIEW scheduler_member_events AS
SELECT h.member_id, h.event_type, h.occurred_at
FROM history h
WHERE h.applied AND h.member_id IS NOT NULL;

-- Study packs as sending reads them (study.rs), and completions as the dispatch counts them.
CREATE VIEW scheduler_study_packs AS
SELECT p.id AS pack_id, p.title, p.summary, p.audience_org_ids, p.audience_region_codes,
       p.event_id, p.send_at, p.published_at
FROM study_packs p;

CREATE VIEW scheduler_study_completions AS
SELECT c.member_id, c.pack_id, c.completed_on
FROM study_completions c;

-- Arrivals that matched nobody, for the dispatch's totals.
CREATE VIEW scheduler_unmatched_arrivals AS
SELECT u.receiving_org_id, u.arrived_on, u.resolved_at
FROM unmatched_arrivals u;
