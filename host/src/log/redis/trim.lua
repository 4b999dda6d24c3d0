if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local removed = trim_count(KEYS[1], KEYS[2], ARGV[1])
if ARGV[2] ~= '0' then
  local newest = redis.call('XREVRANGE', KEYS[1], '(' .. ARGV[2] .. '-0', '-', 'COUNT', 1)
  if #newest > 0 then
    removed = removed + redis.call('XTRIM', KEYS[1], 'MINID', ARGV[2] .. '-0')
    redis.call('SET', KEYS[2], newest[1][1])
  end
end
return removed
