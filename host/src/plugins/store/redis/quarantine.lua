if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[1] == '' then
  redis.call('HDEL', KEYS[1], 'quarantine')
else
  redis.call('HSET', KEYS[1], 'quarantine', ARGV[1])
end
redis.call('INCR', KEYS[2])
return 1
