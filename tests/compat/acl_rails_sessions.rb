# Rails/Rack session stores on redis-rb (Debian's ruby-redis 4.8) as a restricted ACL user.
#
# Usage: ruby acl_rails_sessions.rb PORT
#
# The server runs with session_users.conf: the default user is off, `admin` checks what
# is stored, and `rails` (`~_session_id:* ~rack:session:* +@read +@write -@dangerous
# +multi +exec`) is what the store logs in as (redis-rb's `username:`/`password:`). It
# does what redis-session-store sends (SETEX, GET, EXPIRE, EXISTS, DEL of the private and
# public ids) and what redis-rack sends (a new id claimed with SETNX + EXPIRE in MULTI/EXEC:
# @transaction is neither @read nor @write, so the user needs +multi +exec), pipelined
# writes, and expiry; nothing it sends is refused. With the same credentials FLUSHALL,
# KEYS, CONFIG GET and keys outside its prefixes get NOPERM, logged in ACL LOG.

require "redis"

PORT = Integer(ARGV.fetch(0))
USER = "rails"

def expect(actual, expected, what)
  raise "#{what}: expected #{expected.inspect}, got #{actual.inspect}" unless actual == expected
end

def expect_ttl(redis, key, expected)
  ttl = redis.ttl(key)
  raise "TTL of #{key}: #{ttl}, expected #{expected}" unless ttl.between?(expected - 2, expected)
end

admin = Redis.new(host: "127.0.0.1", port: PORT, username: "admin", password: "admin-secret")
version72 = admin.info("server")["redis_version"] !~ /\A7\.[01]\./
admin.flushall
admin.call(%w[ACL LOG RESET])

refusals = lambda do
  admin.call(%w[ACL LOG]).map { |entry| entry.each_slice(2).to_h }
       .select { |e| e["username"] == USER }
       .map { |e| "#{e["reason"]} #{e["object"]}" }
end

begin
  Redis.new(host: "127.0.0.1", port: PORT).get("_session_id:x")
  raise "the default user was served"
rescue Redis::CommandError => e
  raise "unexpected error #{e.message}" unless e.message.start_with?("NOAUTH")
end

redis = Redis.new(host: "127.0.0.1", port: PORT, username: USER, password: "rails-secret")

# redis-session-store: write, read, refresh, renew (new id, old deleted), logout, expiry.
key = "_session_id:2::#{"a" * 64}"
data = Marshal.dump({ "user_id" => 42, "cart" => [] })
expect(redis.exists?(key), false, "EXISTS before the session is written")
expect(redis.setex(key, 1800, data), "OK", "SETEX")
expect_ttl(admin, key, 1800)
expect(Marshal.load(redis.get(key)), { "user_id" => 42, "cart" => [] }, "session read back")
expect(redis.setex(key, 1800, Marshal.dump({ "user_id" => 42, "cart" => [1] })), "OK", "update")
expect(Marshal.load(admin.get(key)), { "user_id" => 42, "cart" => [1] }, "stored update")
admin.expire(key, 100)
expect(redis.expire(key, 1800), true, "EXPIRE (touch)")
expect_ttl(admin, key, 1800)
renewed = "_session_id:2::#{"b" * 64}"
current = redis.get(key)
replies = redis.pipelined do |pipe|
  pipe.setex(renewed, 1800, current)
  pipe.del(key, "_session_id:#{"a" * 32}")
end
expect(replies, ["OK", 1], "renew: new id written, old ids deleted")
expect(admin.exists?(key), false, "old key after renew")
expect(Marshal.load(admin.get(renewed)), { "user_id" => 42, "cart" => [1] }, "renewed session")
expect(redis.del(renewed, "_session_id:#{"b" * 32}"), 1, "logout")
expect(redis.get(renewed), nil, "session after logout")
expect(admin.exists?(renewed), false, "key after logout")

# redis-rack: a new session id is claimed with SETNX + EXPIRE in one MULTI.
rack_key = "rack:session:abc123"
replies = redis.multi do |tx|
  tx.setnx(rack_key, Marshal.dump({ "cart" => [1] }))
  tx.expire(rack_key, 300)
end
expect(replies, [true, true], "MULTI SETNX EXPIRE EXEC")
expect_ttl(admin, rack_key, 300)
replies = redis.multi do |tx|
  tx.setnx(rack_key, "taken")
  tx.expire(rack_key, 300)
end
expect(replies, [false, true], "SETNX on a taken id inside MULTI")
expect(redis.set(rack_key, Marshal.dump({ "cart" => [2] }), ex: 300), "OK", "rack write")
expect(Marshal.load(redis.get(rack_key)), { "cart" => [2] }, "rack read")
expect(redis.del(rack_key), 1, "rack destroy")

# Expiry.
redis.setex("_session_id:2::short", 1, "x")
sleep 2.2
expect(redis.get("_session_id:2::short"), nil, "GET after expiry")
expect(admin.exists?("_session_id:2::short"), false, "key after expiry")
expect(admin.dbsize, 0, "DBSIZE after the lifecycle")
expect(refusals.call, [], "refused during the session lifecycle")

# What the user may not do.
admin.set("other:1", "kept")
run = ->(command) {
  version72 ? "NOPERM User #{USER} has no permissions to run the '#{command}' command" :
              "NOPERM this user has no permissions to run the '#{command}' command"
}
key_text = version72 ? "NOPERM No permissions to access a key" :
                       "NOPERM this user has no permissions to access one of the keys used as arguments"
{
  "FLUSHALL" => [-> { redis.flushall }, run.("flushall")],
  "KEYS" => [-> { redis.keys("*") }, run.("keys")],
  "CONFIG GET" => [-> { redis.config(:get, "*") }, run.("config|get")],
  "GET outside the prefix" => [-> { redis.get("other:1") }, key_text],
  "SET outside the prefix" => [-> { redis.set("other:2", "x") }, key_text],
  # Inside MULTI the refusal comes at queue time and dooms the transaction.
  "SETEX outside the prefix in MULTI" => [-> { redis.multi { |tx| tx.setex("other:3", 60, "x") } }, key_text],
}.each do |what, (call, text)|
  begin
    call.call
    raise "#{what}: no NOPERM"
  rescue Redis::CommandError => e
    expect(e.message, text, what)
  end
end
expect(admin.get("other:1"), "kept", "other:1 untouched")
expect(admin.exists?("other:2"), false, "nothing written outside the prefix")
expect(admin.exists?("other:3"), false, "nothing written outside the prefix by MULTI")
log = refusals.call
["command flushall", "command keys", "command config|get", "key other:1", "key other:2", "key other:3"].each do |entry|
  raise "#{entry} not in ACL LOG: #{log}" unless log.include?(entry)
end

admin.flushall
redis.close
admin.close
puts "redis-rb #{Redis::VERSION} session stores as #{USER}: ok"
