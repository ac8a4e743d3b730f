# redis-rb (Debian's ruby-redis 4.8) against a server started with `--requirepass compat-secret`.
#
# Usage: ruby auth_rb.rb PORT

require "redis"

PORT = Integer(ARGV.fetch(0))

def expect(actual, expected, what)
  raise "#{what}: expected #{expected.inspect}, got #{actual.inspect}" unless actual == expected
end

redis = Redis.new(host: "127.0.0.1", port: PORT, password: "compat-secret", db: 1)
expect(redis.setex("auth:rb", 60, "v"), "OK", "SETEX after AUTH")
expect(redis.get("auth:rb"), "v", "GET after AUTH")
expect(redis.del("auth:rb"), 1, "DEL after AUTH")
redis.close

begin
  Redis.new(host: "127.0.0.1", port: PORT, password: "wrong").ping
  raise "a wrong password was accepted"
rescue Redis::CommandError => e
  raise "unexpected error #{e.message}" unless e.message.start_with?("WRONGPASS")
end
begin
  Redis.new(host: "127.0.0.1", port: PORT).get("auth:rb")
  raise "a command without AUTH was accepted"
rescue Redis::CommandError => e
  raise "unexpected error #{e.message}" unless e.message.start_with?("NOAUTH")
end
puts "redis-rb #{Redis::VERSION} with requirepass: ok"
