if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
if (redis.call('GET', KEYS[5]) or '0') ~= ARGV[3] then return -1 end
for i = 4, #ARGV do
  if redis.call('HINCRBY', KEYS[4], ARGV[i], -1) <= 0 then
    redis.call('HDEL', KEYS[4], ARGV[i])
    redis.call('DEL', KEYS[i + 2])
  end
end
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[3], ARGV[2])
redis.call('INCR', KEYS[5])
return 1
