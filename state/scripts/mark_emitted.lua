-- Flag ledger entries whose verdicts (and complaints) reached Kafka.
-- ARGV: prefix, {listing_key}*
local p = ARGV[1]
for i = 2, #ARGV do
  local key = p .. ':ledger:' .. ARGV[i]
  if redis.call('EXISTS', key) == 1 then redis.call('HSET', key, 'e', '1') end
end
return #ARGV - 1
