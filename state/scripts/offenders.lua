-- Ban or clear a store, and keep the offender index in step (one atomic call).
-- ARGV: prefix, operation ("ban" or "clear"), store_id, now
-- The index <prefix>:offenders maps every store with a status to "banned,strikes,banned_at",
-- so a batch can read the status of thousands of stores with one HMGET (fetch_buckets.lua).
local p, op, store, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local hkey = p .. ':store:' .. store
if op == 'ban' then
  redis.call('HSET', hkey, 'banned', '1', 'banned_at', string.format('%.3f', now))
elseif op == 'clear' then
  redis.call('DEL', p .. ':strikes:' .. store)
  redis.call('HSET', hkey, 'banned', '0', 'strikes', '0', 'banned_at', '0')
else
  return redis.error_reply('unknown operation ' .. tostring(op))
end
local s = redis.call('HMGET', hkey, 'banned', 'strikes', 'banned_at')
if s[1] == '1' or tonumber(s[2] or '0') > 0 then
  redis.call('HSET', p .. ':offenders', store, (s[1] or '0') .. ',' .. (s[2] or '0') .. ',' .. (s[3] or '0'))
else
  redis.call('HDEL', p .. ':offenders', store)
end
-- count the change and name the store, for the workers' copies (sync_offenders.lua)
redis.call('INCR', p .. ':offenders:seq')
redis.call('RPUSH', p .. ':offenders:log', store)
redis.call('LTRIM', p .. ':offenders:log', -4096, -1)
return s
