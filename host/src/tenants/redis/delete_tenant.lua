local existed = redis.call('HDEL', KEYS[1], ARGV[1])
for _, hash in ipairs(redis.call('HVALS', KEYS[3])) do
  redis.call('HDEL', KEYS[2], hash)
end
redis.call('DEL', KEYS[3])
return existed
