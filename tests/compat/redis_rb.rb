# redis-rb (Debian's ruby-redis, redis-rb 4.x) against a server: a session-shaped flow.
#
# Usage: ruby redis_rb.rb PORT
#
# What redis-session-store and redis-rack send through redis-rb: SETEX/GET/EXPIRE/DEL,
# EXISTS, SETNX + EXPIRE inside MULTI (a new rack session id), pipelined commands, and the
# handshake (CLIENT setname, SELECT).

require "redis"

PORT = Integer(ARGV.fetch(0))

def expect(actual, expected, what)
  return if actual == expected

  raise "#{what}: expected #{expected.inspect}, got #{actual.inspect}"
end

def expect_ttl(redis, key, expected)
  ttl = redis.ttl(key)
  raise "TTL of #{key}: #{ttl}, expected #{expected}" unless ttl.between?(expected - 2, expected)
end

redis = Redis.new(host: "127.0.0.1", port: PORT, db: 3, id: "compat-rb")
expect(redis.ping, "PONG", "PING")
expect(redis.call(%w[CLIENT GETNAME]), "compat-rb", "CLIENT GETNAME after CLIENT setname")
redis.flushdb
server = Redis.new(host: "127.0.0.1", port: PORT, db: 3)

# redis-session-store: write, read, refresh, logout.
key = "_session_id:2::#{"a" * 64}"
data = Marshal.dump({ "user_id" => 42, "flash" => nil })
expect(redis.exists?(key), false, "EXISTS before the session is written")
expect(redis.setex(key, 1800, data), "OK", "SETEX")
expect(Marshal.load(redis.get(key)), { "user_id" => 42, "flash" => nil }, "session read back")
blob = (0..255).map(&:chr).join.b
redis.set("rb:blob", blob)
expect(redis.get("rb:blob").b, blob, "binary value read back byte for byte")
redis.del("rb:blob")
expect_ttl(server, key, 1800)
expect(redis.exists?(key), true, "EXISTS")
expect(redis.expire(key, 3600), true, "EXPIRE")
expect_ttl(server, key, 3600)
expect(server.keys("_session_id:*"), [key], "keys on the server")
expect(redis.del(key, "_session_id:public"), 1, "DEL public and private ids")
expect(redis.get(key), nil, "session after logout")
expect(server.exists?(key), false, "key after logout")

# redis-rack: a new session id is claimed with SETNX + EXPIRE in one MULTI.
rack_key = "rack:session:abc123"
replies = redis.multi do |tx|
  tx.setnx(rack_key, Marshal.dump({ "cart" => [1] }))
  tx.expire(rack_key, 300)
end
expect(replies, [true, true], "MULTI SETNX EXPIRE EXEC")
expect_ttl(server, rack_key, 300)
replies = redis.multi do |tx|
  tx.setnx(rack_key, "taken")
  tx.expire(rack_key, 300)
end
expect(replies, [false, true], "SETNX on a taken id inside MULTI")
expect(Marshal.load(redis.get(rack_key)), { "cart" => [1] }, "the first writer's session is kept")
expect(redis.set(rack_key, "v2", ex: 120), "OK", "SET EX")
expect_ttl(server, rack_key, 120)
expect(redis.set(rack_key, "v3", nx: true, px: 5000), false, "SET NX PX on an existing key")

# An error inside MULTI raises after EXEC, the other commands still run.
begin
  redis.multi do |tx|
    tx.set("rb:s", "text")
    tx.incr("rb:s")
  end
  raise "INCR of a string inside MULTI should raise"
rescue Redis::CommandError => e
  raise "unexpected error #{e.message}" unless e.message.include?("not an integer")
end
expect(redis.get("rb:s"), "text", "SET before the failing command ran")

# Pipelined writes and reads.
replies = redis.pipelined do |pipe|
  pipe.setex("rb:p1", 60, "a")
  pipe.setex("rb:p2", 60, "b")
  pipe.mget("rb:p1", "rb:p2", "rb:missing")
  pipe.del("rb:p1", "rb:p2", "rb:s", rack_key)
end
expect(replies, ["OK", "OK", ["a", "b", nil], 4], "pipelined")

# Expiry really removes the session.
redis.setex("rb:short", 1, "x")
sleep 2.2
expect(redis.get("rb:short"), nil, "GET after expiry")
expect(server.dbsize, 0, "DBSIZE at the end")

redis.close
server.close
puts "redis-rb #{Redis::VERSION}: ok"
