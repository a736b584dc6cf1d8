-- Write a batch's state atomically (a script runs alone): series additions, trimmed to their
-- window and cap, and the ledger of screened listing revisions. ARGV[1] is one JSON document:
-- {"p": prefix, "now": t, "ledger_ttl": s, "policies": {kind: [window_s, max_members]},
--  "adds": [[kind, id, member, event_time]...], "ledger": [[listing_key, fingerprint, verdict]...]}
local q = cjson.decode(ARGV[1])
local p, now = q.p, q.now
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
for _, l in ipairs(q.ledger) do
  local key = p .. ':ledger:' .. l[1]
  redis.call('HSET', key, 'fp', l[2], 'v', l[3], 'e', '0')
  redis.call('EXPIRE', key, q.ledger_ttl)
end
return #q.adds
