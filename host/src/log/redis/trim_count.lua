local function trim_count(stream, trimmed, max)
  local excess = redis.call('XLEN', stream) - tonumber(max)
  if excess <= 0 then return 0 end
  local start, last, left = '-', nil, excess
  while left > 0 do
    local chunk = redis.call('XRANGE', stream, start, '+', 'COUNT', math.min(left, 256))
    if #chunk == 0 then break end
    last = chunk[#chunk][1]
    left = left - #chunk
    start = '(' .. last
  end
  if not last then return 0 end
  redis.call('XTRIM', stream, 'MAXLEN', max)
  redis.call('SET', trimmed, last)
  return excess
end
