local now, expires, ttl, tag = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4]
local changes, gone = {}, {}
for i = 5, #ARGV, 2 do
  local conn, user = ARGV[i], ARGV[i + 1]
  local member = conn .. ' ' .. user
  local score = redis.call('ZSCORE', KEYS[1], member)
  if score then
    if tonumber(score) < expires then redis.call('ZADD', KEYS[1], expires, member) end
    redis.call('PEXPIRE', tag .. ':user:' .. user, ttl)
  else
    gone[#gone + 1] = conn
  end
end
purge(KEYS[1], KEYS[2], tag, now, changes)
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
local answer = {tostring(#changes / 3)}
for _, v in ipairs(changes) do answer[#answer + 1] = v end
for _, c in ipairs(gone) do answer[#answer + 1] = c end
return answer
