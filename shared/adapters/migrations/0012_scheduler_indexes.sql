-- The political birthday (政治生日, DESIGN.md section 4) looks members up every day by the
-- month and day of joined_party_on (`MM-DD`); without this index that is a scan of every member.
CREATE INDEX members_joined_day ON members ((substr(doc->>'joined_party_on', 6, 5)));

-- The dispatch figures (and the scheduler's per-branch lists) ask whether an org is the home of
-- any record, open or closed; flow_records_home covers open ones only, so without this each
-- department's question was a scan of every record.
CREATE INDEX flow_records_home_all ON flow_records (home_org_id);
