-- The notifier's read model of the ledger: exactly what it reads to route a broadcast, named
-- for it, so the registry may change its own tables and JSON layout by changing these views
-- rather than the notifier's queries (issue 7, "Each role owns its settings and SQL").

-- An org as a broadcast needs it: its name, and its group robot (`org.upserted`'s `chat`,
-- as sent; null when it has none).
CREATE VIEW notifier_org_channels AS
SELECT o.id AS org_id,
       o.name,
       o.chat
FROM orgs o;

-- A flowing member a broadcast can reach one to one: one row per open time away, with the
-- org they are away from (`away_from_org_id`) and the org they checked in with
-- (`checked_in_org_id`, null until they do), their current phone, their name, their own
-- channels (a JSON array, null when their record names none) and their home branch.
CREATE VIEW notifier_recipients AS
SELECT m.id AS member_id,
       m.doc->>'name' AS name,
       f.phone,
       m.doc->'channels' AS channels,
       m.home_org_id,
       f.home_org_id AS away_from_org_id,
       f.inflow_org_id AS checked_in_org_id
FROM flow_records f
JOIN members m ON m.id = f.member_id
WHERE f.is_open;
