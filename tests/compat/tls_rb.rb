# redis-rb (Debian's ruby-redis 4.8) over TLS with a client certificate, against a server
# that requires one (tls-auth-clients yes).
#
# Usage: ruby tls_rb.rb TLS_PORT CERT_DIR   (CERT_DIR holds ca.crt, client.crt, client.key)

require "redis"
require "openssl"

PORT = Integer(ARGV.fetch(0))
DIR = ARGV.fetch(1)

def expect(actual, expected, what)
  raise "#{what}: expected #{expected.inspect}, got #{actual.inspect}" unless actual == expected
end

ssl_params = {
  ca_file: "#{DIR}/ca.crt",
  cert: OpenSSL::X509::Certificate.new(File.read("#{DIR}/client.crt")),
  key: OpenSSL::PKey.read(File.read("#{DIR}/client.key")),
  verify_mode: OpenSSL::SSL::VERIFY_PEER,
}
redis = Redis.new(host: "127.0.0.1", port: PORT, ssl: true, ssl_params: ssl_params, db: 1)
expect(redis.ping, "PONG", "PING over TLS")
# redis-session-store's calls.
expect(redis.setex("rb:tls:session", 60, "v"), "OK", "SETEX")
expect(redis.get("rb:tls:session"), "v", "GET")
expect((1..60).cover?(redis.ttl("rb:tls:session")), true, "TTL")
result = redis.multi do |m|
  m.setnx("rb:tls:lock", "1")
  m.expire("rb:tls:lock", 30)
end
expect(result, [true, true], "MULTI SETNX EXPIRE EXEC")
expect(redis.pipelined { |p| p.get("rb:tls:session"); p.del("rb:tls:session") }, ["v", 1], "pipelined")
redis.close

# Without a client certificate the server refuses the connection.
begin
  Redis.new(host: "127.0.0.1", port: PORT, ssl: true, ssl_params: { ca_file: "#{DIR}/ca.crt" }).ping
  raise "a client without a certificate was served"
rescue Redis::CannotConnectError, Redis::ConnectionError, OpenSSL::SSL::SSLError, EOFError, Errno::ECONNRESET
end
puts "ok"
