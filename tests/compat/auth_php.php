<?php
// PHP sessions with phpredis against a server started with `--requirepass compat-secret`.
//
// Usage: php auth_php.php PORT
//
// The session handler sends AUTH (from ?auth=) before its first command; the Redis class
// does the same with auth(). A wrong password must make session_start fail.

declare(strict_types=1);

require __DIR__ . '/php_common.php';

$port = (int) ($argv[1] ?? 0);
const PASSWORD = 'compat-secret';

ini_set('session.save_handler', 'redis');
ini_set('session.use_cookies', '0');
ini_set('session.cache_limiter', '');
ini_set('session.gc_maxlifetime', '300');

$server = new Redis();
$server->connect('127.0.0.1', $port);
try {
    $server->get('x');
    throw new RuntimeException('a command without AUTH was accepted');
} catch (RedisException $e) {
    expect(str_starts_with($e->getMessage(), 'NOAUTH'), true, 'NOAUTH before AUTH: ' . $e->getMessage());
}
expect($server->auth(PASSWORD), true, 'AUTH');

ini_set('session.save_path', "tcp://127.0.0.1:$port?auth=" . PASSWORD . '&database=1');
session_start();
$id = session_id();
$_SESSION['user'] = 'ann';
session_write_close();
$server->select(1);
expect($server->get('PHPREDIS_SESSION:' . $id), 'user|s:3:"ann";', 'stored with AUTH');
$ttl = $server->ttl('PHPREDIS_SESSION:' . $id);
expect($ttl >= 298 && $ttl <= 300, true, "TTL $ttl");
session_id($id);
session_start();
expect($_SESSION['user'], 'ann', 'read with AUTH');
session_destroy();
expect($server->exists('PHPREDIS_SESSION:' . $id), 0, 'destroyed with AUTH');

ini_set('session.save_path', "tcp://127.0.0.1:$port?auth=wrong");
$failed = false;
try {
    $failed = !session_start();
} catch (Throwable $e) {
    $failed = true;
}
expect($failed, true, 'session_start with a wrong password fails');
if (session_status() === PHP_SESSION_ACTIVE) {
    session_abort();
}
echo 'phpredis ' . phpversion('redis') . " session handler with requirepass: ok\n";
