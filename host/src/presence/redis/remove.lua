local changes = {}
if redis.call('ZREM', KEYS[1], ARGV[1] .. ' ' .. ARGV[2]) == 1 then
  redis.call('ZREM', KEYS[2], ARGV[1])
  if redis.call('ZCARD', KEYS[2]) == 0 then
    change(KEYS[3], tonumber(ARGV[3]), ARGV[2], false, changes)
  end
end
return changes
