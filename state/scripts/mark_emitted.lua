-- Flag ledger entries whose verdicts (and complaints) reached Kafka.
-- ARGV: prefix, {listing_key}*. One HSET per entry: an entry always holds the field (written
-- '0' with it), so a new field means there was no entry (it expired): that key is dropped
-- again rather than left behind without a verdict or an expiry.
local ledger = ARGV[1] .. ':ledger:'
for i = 2, #ARGV do
  local key = ledger .. ARGV[i]
  if redis.call('HSET', key, 'e', '1') == 1 then redis.call('DEL', key) end
end
return #ARGV - 1
