-- Shared by the price scripts (pasted in by state/redis.py where a script includes it):
-- MGET of any number of keys, 1,000 at a time (unpack's stack limit is ~8,000 values).
local function mget(keys)
  local out = {}
  for a = 1, #keys, 1000 do
    local part = redis.call('MGET', unpack(keys, a, math.min(a + 999, #keys)))
    for j = 1, #part do out[#out + 1] = part[j] end
  end
  return out
end
