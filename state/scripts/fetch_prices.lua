-- Read a batch's price groups (layout in state/price_ring.py). ARGV[1] is one JSON document:
-- {"p": prefix, "now": t, "specs": [[digest, refresh_share, max_age_s]...], "groups": [group...]}
-- Per group: one GETRANGE of the ring's header, and one MGET for every group's stored
-- baselines. Returns per group {version, stale, records or nil, baseline or nil per spec}:
-- ``stale`` has one '1'/'0' per spec (the rule of state.prices.is_stale), and the records come
-- back only when some spec's baseline is stale, so a fresh group costs about 100 bytes.
local q = cjson.decode(ARGV[1])
local p, now, specs, groups = q.p, q.now, q.specs, q.groups
local HEADER, DIGEST, RECORD = 32, 8, 16

--@include _mget_chunked.lua

local baseline_keys = {}
for i, g in ipairs(groups) do
  for j, s in ipairs(specs) do
    baseline_keys[(i - 1) * #specs + j] = p .. ':prices:b:' .. s[1] .. ':' .. g
  end
end
local stored = #baseline_keys > 0 and mget(baseline_keys) or {}
local out = {}
for i, g in ipairs(groups) do
  local ring = p .. ':prices:r:' .. g
  local head = redis.call('GETRANGE', ring, 0, HEADER - 1)
  local version = tonumber(string.sub(head, 1, 16)) or 0
  local cap = tonumber(string.sub(head, 17, 32)) or 0
  if cap <= 0 then version = 0 end
  local flags, any, answer = {}, false, {}
  for j, s in ipairs(specs) do
    local text = stored[(i - 1) * #specs + j]
    local stale = true
    if text then
      local v, t, n = string.match(text, '^(%d+)|([^|]+)|[^|]*|[^|]*|(%d+)|')
      if v and tonumber(t) then
        local new = version - tonumber(v)
        local needed = math.max(1, math.floor(s[2] * tonumber(n)))
        stale = new < 0 or new >= needed or math.abs(now - tonumber(t)) >= s[3]
      end
    end
    flags[j] = stale and '1' or '0'
    any = any or stale
    answer[j + 3] = text
  end
  answer[1] = version
  answer[2] = table.concat(flags)
  answer[3] = false
  if any and version > 0 then
    local start = HEADER + cap * DIGEST
    answer[3] = redis.call('GETRANGE', ring, start, start + RECORD * math.min(version, cap) - 1)
  end
  out[i] = answer
end
return out
