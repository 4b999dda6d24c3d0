if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HEXISTS', KEYS[1], 'v:' .. ARGV[2]) == 0 then return -1 end
redis.call('HSET', KEYS[1], 'activation', ARGV[1])
redis.call('SADD', KEYS[2], ARGV[3])
redis.call('INCR', KEYS[3])
return 1
