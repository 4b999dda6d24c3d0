local existing = redis.call('HGET', KEYS[2], 'd:' .. ARGV[2])
if existing then
  return {1, tonumber(existing), redis.call('HGET', KEYS[2], 'v:' .. existing)}
end
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0
   and redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[5]) then
  return {-1, 0, ''}
end
local latest = tonumber(redis.call('HGET', KEYS[2], 'latest') or '0')
if latest >= tonumber(ARGV[6]) then return {-2, 0, ''} end
local blob = redis.call('GET', KEYS[3])
if blob and blob ~= ARGV[4] then return {-3, 0, ''} end
local version = latest + 1
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], 'latest', version, 'v:' .. version, ARGV[3], 'd:' .. ARGV[2], version)
if not blob then redis.call('SET', KEYS[3], ARGV[4]) end
redis.call('HINCRBY', KEYS[4], ARGV[2], 1)
redis.call('INCR', KEYS[5])
return {0, version, ARGV[3]}
