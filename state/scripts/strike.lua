-- Count one strike against a store, idempotent per strike id; ban at the policy's count.
-- ARGV: prefix, store_id, strike_id, now, strikes_to_ban, window_s
local p, store, strike = ARGV[1], ARGV[2], ARGV[3]
local now, limit, window = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local skey = p .. ':strikes:' .. store
local hkey = p .. ':store:' .. store
redis.call('SADD', skey, strike)
redis.call('EXPIRE', skey, math.ceil(window))
local strikes = redis.call('SCARD', skey)
redis.call('HSET', hkey, 'strikes', strikes)
if strikes >= limit and redis.call('HGET', hkey, 'banned') ~= '1' then
  redis.call('HSET', hkey, 'banned', '1', 'banned_at', string.format('%.3f', now))
end
local s = redis.call('HMGET', hkey, 'banned', 'strikes', 'banned_at')
-- keep the offender index in step (see offenders.lua)
redis.call('HSET', p .. ':offenders', store, (s[1] or '0') .. ',' .. (s[2] or '0') .. ',' .. (s[3] or '0'))
-- count the change and name the store, for the workers' copies (sync_offenders.lua)
redis.call('INCR', p .. ':offenders:seq')
redis.call('RPUSH', p .. ':offenders:log', store)
redis.call('LTRIM', p .. ':offenders:log', -4096, -1)
return s
