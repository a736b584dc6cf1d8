-- Write a batch's series additions and ledger entries atomically (a script runs alone).
-- ARGV: prefix, now, ledger TTL (s), the series part as one JSON document ('' when the batch
-- adds no member; state/redis.py builds it), then {listing_key, fingerprint, verdict}* for the
-- ledger, as they are: a verdict is stored byte for byte without a JSON round trip.
-- The series document: {"policies": {kind: [window_s, max_members]},
-- "adds": [[kind, id, member, event_time]...]}; members are trimmed to their window and cap.
local p, now, ttl, doc = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local added = 0
if doc ~= '' then
  local q = cjson.decode(doc)
  local touched = {}
  for _, a in ipairs(q.adds) do
    local kind = a[1]
    local key = p .. ':' .. kind .. ':' .. a[2]
    -- GT: a member seen again keeps its newest time; a new member is added.
    redis.call('ZADD', key, 'GT', string.format('%.6f', a[4]), a[3])
    touched[key] = kind
  end
  for key, kind in pairs(touched) do
    local window, cap = q.policies[kind][1], q.policies[kind][2]
    redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. string.format('%.6f', now - window))
    local n = redis.call('ZCARD', key)
    if n > cap then redis.call('ZREMRANGEBYRANK', key, 0, n - cap - 1) end
    -- wall-clock expiry a day past the event-time window, so idle series leave Redis
    redis.call('EXPIRE', key, math.ceil(window + 86400))
  end
  added = #q.adds
end
local ledger = p .. ':ledger:'
for i = 5, #ARGV, 3 do
  local key = ledger .. ARGV[i]
  redis.call('HSET', key, 'fp', ARGV[i + 1], 'v', ARGV[i + 2], 'e', '0')
  redis.call('EXPIRE', key, ttl)
end
return added
