-- Bring a worker's copy of the offender index up to date (state/offender_copy.py).
-- ARGV: prefix, the copy's epoch ('' for none), the copy's sequence number, a fresh epoch token
-- (used when this history has none yet).
-- offenders.lua and strike.lua count every change in <prefix>:offenders:seq and push the store
-- id onto <prefix>:offenders:log (the newest 4096 kept). A copy that is current gets {epoch,
-- seq}; one a few changes behind gets {epoch, seq, 'delta', {store_id...}, {index value...}}
-- (a missing value: the store has no status any more); any other gets {epoch, seq, 'full',
-- {store_id, index value}*} (the whole index, read with one HGETALL).
local p, epoch_had, seq_had, token = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local ekey, skey, lkey = p .. ':offenders:epoch', p .. ':offenders:seq', p .. ':offenders:log'
local epoch = redis.call('GET', ekey)
if not epoch then
  redis.call('SET', ekey, token)
  epoch = token
end
local seq = tonumber(redis.call('GET', skey) or '0')
if epoch == epoch_had and seq == seq_had then return {epoch, seq} end
if epoch == epoch_had and seq > seq_had and seq - seq_had <= redis.call('LLEN', lkey) then
  local ids = redis.call('LRANGE', lkey, seq_had - seq, -1)
  local seen, changed = {}, {}
  for _, id in ipairs(ids) do
    if not seen[id] then
      seen[id] = true
      changed[#changed + 1] = id
    end
  end
  return {epoch, seq, 'delta', changed, redis.call('HMGET', p .. ':offenders', unpack(changed))}
end
return {epoch, seq, 'full', redis.call('HGETALL', p .. ':offenders')}
