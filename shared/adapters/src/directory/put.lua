-- Write-through of one member's place, with compare-and-set on the version
-- (DESIGN.md section 6): a late or repeated write never overwrites newer data.
-- KEYS[1]: the member's hash.
-- ARGV: prefix, member id, version, open (1/0), status, region code, inflow org, home org,
--       tombstone ttl seconds.
local cur = tonumber(redis.call('HGET', KEYS[1], 'version') or '-1')
local v = tonumber(ARGV[3])
if cur >= v then
  return 0
end
local p, m = ARGV[1], ARGV[2]
-- Leave the sets the member was in.
local old = redis.call('HMGET', KEYS[1], 'province', 'city', 'county', 'home_org')
for i = 1, 3 do
  if old[i] then redis.call('SREM', p .. 'region:' .. old[i], m) end
end
if old[4] then redis.call('SREM', p .. 'branch:' .. old[4], m) end
redis.call('DEL', KEYS[1])
if ARGV[4] == '1' then
  local r = ARGV[6]
  local province, city, county = string.sub(r, 1, 2) .. '0000', string.sub(r, 1, 4) .. '00', string.sub(r, 1, 6)
  redis.call('HSET', KEYS[1], 'version', v, 'status', ARGV[5], 'region', r, 'province', province,
    'city', city, 'county', county, 'inflow_org', ARGV[7], 'home_org', ARGV[8])
  redis.call('SADD', p .. 'region:' .. province, m)
  redis.call('SADD', p .. 'region:' .. city, m)
  redis.call('SADD', p .. 'region:' .. county, m)
  redis.call('SADD', p .. 'branch:' .. ARGV[8], m)
else
  -- A closed record leaves a tombstone holding its version, so a late write of an older open
  -- state loses. Writes race for seconds at most; a day is ample.
  redis.call('HSET', KEYS[1], 'version', v, 'status', ARGV[5])
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[9]))
end
return 1
