redis.call('SET', KEYS[2], ARGV[1], 'NX')
local epoch = redis.call('GET', KEYS[2])
local trimmed = redis.call('GET', KEYS[3]) or '0-0'
local head, events = '0-0', {}
if redis.call('EXISTS', KEYS[1]) == 1 then
  local info = redis.call('XINFO', 'STREAM', KEYS[1])
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then head = info[i + 1]; break end
  end
  if ARGV[2] ~= '' then
    events = redis.call('XRANGE', KEYS[1], ARGV[2], '+', 'COUNT', ARGV[3])
  end
end
return {epoch, trimmed, head, events}
