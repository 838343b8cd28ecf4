-- Issue 16, second pass: the SQL twins of domain rules, and the views the scheduler's jobs read
-- the ledger through. tests/it/ledger_views.rs checks each function against its domain rule and
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
