local function answer(why, changes, rest)
  local out = {why, tostring(#changes / 3)}
  for _, v in ipairs(changes) do out[#out + 1] = v end
  for _, v in ipairs(rest) do out[#out + 1] = v end
  return out
end
local conn, user, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local member = conn .. ' ' .. user
local changes = {}
purge(KEYS[1], KEYS[3], ARGV[9], now, changes)
local present = 0
if redis.call('ZSCORE', KEYS[1], member) then present = 1 end
for _, c in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  if c == conn or not redis.call('ZSCORE', KEYS[1], c .. ' ' .. user) then
    redis.call('ZREM', KEYS[2], c)
  end
end
local mine = redis.call('ZCARD', KEYS[2])
local cap = tonumber(ARGV[5])
local replaced = {}
if mine >= cap then
  if ARGV[7] ~= 'close-oldest' or cap == 0 then return answer('user', changes, {ARGV[5]}) end
  replaced = redis.call('ZRANGE', KEYS[2], 0, mine - cap)
end
if redis.call('ZCARD', KEYS[1]) - #replaced - present >= tonumber(ARGV[6]) then
  return answer('tenant', changes, {ARGV[6]})
end
for _, c in ipairs(replaced) do
  redis.call('ZREM', KEYS[2], c)
  redis.call('ZREM', KEYS[1], c .. ' ' .. user)
end
if redis.call('ZCARD', KEYS[2]) == 0 then change(KEYS[3], now, user, true, changes) end
redis.call('ZADD', KEYS[1], ARGV[4], member)
redis.call('ZADD', KEYS[2], now, conn)
for _, k in ipairs({KEYS[1], KEYS[2], KEYS[3]}) do redis.call('PEXPIRE', k, ARGV[8]) end
return answer('ok', changes, replaced)
