-- The political birthday (政治生日, DESIGN.md section 4) looks members up every day by the
-- month and day of joined_party_on (`MM-DD`); without this index that is a scan of every member.
CREATE INDEX members_joined_day ON members ((substr(doc->>'joined_party_on', 6, 5)));
