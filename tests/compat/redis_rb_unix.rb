# redis-rb (Debian's ruby-redis, redis-rb 4.x) over a Unix socket, as a Rails application on
# the server's host configures it: `path:` or a `unix://` URL.
#
# Usage: ruby redis_rb_unix.rb SOCKET_PATH
#
# redis-session-store's SETEX/GET/EXPIRE/DEL and redis-rack's MULTI SETNX EXPIRE EXEC
# through the socket, and what the server shows of the connection (CLIENT INFO: addr is
# the socket's path, flag U).

require "redis"

SOCKET = ARGV.fetch(0)

def expect(actual, expected, what)
  return if actual == expected

  raise "#{what}: expected #{expected.inspect}, got #{actual.inspect}"
end

redis = Redis.new(path: SOCKET, db: 4, id: "compat-rb-unix")
expect(redis.ping, "PONG", "PING")
redis.flushdb
info = redis.call(%w[CLIENT INFO])
unless info.include?("addr=#{SOCKET}:0 laddr=#{SOCKET}:0 ") && info.include?(" flags=U ") &&
       info.include?(" name=compat-rb-unix ") && info.include?(" db=4 ")
  raise "CLIENT INFO over the socket: #{info}"
end

key = "_session_id:2::#{"b" * 64}"
data = Marshal.dump({ "user_id" => 7 })
expect(redis.setex(key, 1800, data), "OK", "SETEX")
expect(Marshal.load(redis.get(key)), { "user_id" => 7 }, "session read back")
expect(redis.expire(key, 3600), true, "EXPIRE")
ttl = redis.ttl(key)
raise "TTL #{ttl}" unless ttl.between?(3598, 3600)

rack_key = "rack:session:unix"
replies = redis.multi do |tx|
  tx.setnx(rack_key, Marshal.dump({ "cart" => [1] }))
  tx.expire(rack_key, 300)
end
expect(replies, [true, true], "MULTI SETNX EXPIRE EXEC")

from_url = Redis.new(url: "unix://#{SOCKET}", db: 4)
expect(from_url.exists?(rack_key), true, "a unix:// URL reaches the same database")
expect(redis.del(key, rack_key), 2, "DEL")
expect(from_url.keys("*"), [], "keys after logout")
redis.flushdb
puts "redis-rb #{Redis::VERSION} over a Unix socket: ok"
