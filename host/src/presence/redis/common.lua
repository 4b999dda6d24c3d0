local function change(seq_key, now, user, joined, out)
  local last = tonumber(redis.call('GET', seq_key) or '0')
  local seq = math.max(last + 1, now * 1000)
  redis.call('SET', seq_key, string.format('%.0f', seq))
  out[#out + 1] = user
  out[#out + 1] = joined and '1' or '0'
  out[#out + 1] = string.format('%.0f', seq)
end
local function purge(conns, seq_key, tag, now, out)
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', conns, '-inf', now)) do
    local sp = string.find(m, ' ', 1, true)
    local conn, user = string.sub(m, 1, sp - 1), string.sub(m, sp + 1)
    local user_key = tag .. ':user:' .. user
    redis.call('ZREM', conns, m)
    redis.call('ZREM', user_key, conn)
    if redis.call('ZCARD', user_key) == 0 then
      change(seq_key, now, user, false, out)
    end
  end
end
