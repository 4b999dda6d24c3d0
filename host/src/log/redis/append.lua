redis.call('SET', KEYS[2], ARGV[1], 'NX')
local epoch = redis.call('GET', KEYS[2])
local ids, dups = {}, {}
for i = 0, tonumber(ARGV[5]) - 1 do
  local b = 6 + i * 6
  local k = tonumber(ARGV[b])
  local seen = false
  if k > 0 then seen = redis.call('GET', KEYS[k]) end
  if seen then
    ids[i + 1] = seen
    dups[i + 1] = 1
  else
    local f = {'t', ARGV[b + 1]}
    if ARGV[b + 2] == '1' then f[#f + 1] = 's'; f[#f + 1] = ARGV[b + 3] end
    if ARGV[b + 4] ~= '' then f[#f + 1] = 'a'; f[#f + 1] = ARGV[b + 4] end
    f[#f + 1] = 'e'; f[#f + 1] = ARGV[b + 5]
    local id = redis.call('XADD', KEYS[1], '*', unpack(f))
    if k > 0 then redis.call('SET', KEYS[k], id, 'PX', ARGV[2]) end
    ids[i + 1] = id
    dups[i + 1] = 0
  end
end
if redis.call('XLEN', KEYS[1]) > tonumber(ARGV[4]) then
  trim_count(KEYS[1], KEYS[3], ARGV[3])
end
return {epoch, ids, dups}
