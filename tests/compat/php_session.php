<?php
// PHP's native session handler with phpredis (Debian's php-redis): session.save_handler = redis.
//
// Usage: php php_session.php PORT
//
// Each "request" is a session_start() ... session_write_close() with the session id carried
// by hand (no cookies in the CLI). Checks what the application sees in $_SESSION and what
// the server holds through its own phpredis connection: the key PHPREDIS_SESSION:<id>, the
// serialized data, a TTL equal to session.gc_maxlifetime (SETEX on a write, EXPIRE when
// lazy_write finds the data unchanged), regenerate, destroy, expiry, strict mode (EXISTS) and
// a persistent connection with a database number and a prefix.
// Locking (EVALSHA/EVAL) is in php_session_locking.php.

declare(strict_types=1);

require __DIR__ . '/php_common.php';

$port = (int) ($argv[1] ?? 0);
if ($port <= 0) {
    fwrite(STDERR, "usage: php php_session.php PORT\n");
    exit(2);
}
if (!extension_loaded('redis')) {
    fwrite(STDERR, "the redis extension is not loaded: apt-get install php-redis\n");
    exit(2);
}

const PREFIX = 'PHPREDIS_SESSION:';

ini_set('session.save_handler', 'redis');
ini_set('session.save_path', "tcp://127.0.0.1:$port");
ini_set('session.gc_maxlifetime', '600');
ini_set('session.use_cookies', '0');
ini_set('session.use_strict_mode', '0');
ini_set('session.cache_limiter', '');

$server = new Redis();
$server->connect('127.0.0.1', $port);
$server->flushDB();

// Create.
$id = request(null, function () {
    $_SESSION['user'] = 'ann';
    $_SESSION['cart'] = [];
});
expect($server->keys(PREFIX . '*'), [PREFIX . $id], 'keys after the first request');
expect($server->get(PREFIX . $id), 'user|s:3:"ann";cart|a:0:{}', 'stored session data');
expect_ttl($server, PREFIX . $id, 600);

// Read and update.
$server->expire(PREFIX . $id, 100);
request($id, function () {
    expect($_SESSION, ['user' => 'ann', 'cart' => []], 'session read back');
    $_SESSION['cart'][] = 'apple';
});
expect($server->get(PREFIX . $id), 'user|s:3:"ann";cart|a:1:{i:0;s:5:"apple";}', 'stored update');
expect_ttl($server, PREFIX . $id, 600);

// Unchanged data with lazy_write: only the TTL is refreshed (EXPIRE).
$server->expire(PREFIX . $id, 100);
request($id, function () {
    expect($_SESSION['cart'], ['apple'], 'read of the updated session');
});
expect_ttl($server, PREFIX . $id, 600);

// The TTL follows session.gc_maxlifetime.
ini_set('session.gc_maxlifetime', '1200');
request($id, function () {
    $_SESSION['seen'] = true;
});
expect_ttl($server, PREFIX . $id, 1200);
ini_set('session.gc_maxlifetime', '600');

// Regenerate the id, deleting the old session.
$new = request($id, function () {
    session_regenerate_id(true);
});
if ($new === $id) {
    throw new RuntimeException('session_regenerate_id kept the id');
}
expect($server->exists(PREFIX . $id), 0, 'old key after regenerate');
expect_ttl($server, PREFIX . $new, 600);
request($new, function () {
    expect($_SESSION['user'], 'ann', 'read after regenerate');
});

// Destroy (logout).
request($new, function () {
    session_destroy();
});
expect($server->exists(PREFIX . $new), 0, 'key after session_destroy');
request($new, function () {
    expect($_SESSION, [], 'session after logout');
    session_abort();
});
expect($server->keys(PREFIX . '*'), [], 'keys after logout');

// Expiry: the server drops the session after gc_maxlifetime.
ini_set('session.gc_maxlifetime', '1');
$short = request(null, function () {
    $_SESSION['user'] = 'bob';
});
expect_ttl($server, PREFIX . $short, 1);
sleep(2);
usleep(200000);
expect($server->exists(PREFIX . $short), 0, 'key after expiry');
ini_set('session.gc_maxlifetime', '600');
request($short, function () {
    expect($_SESSION, [], 'session after expiry');
    session_abort();
});

// Strict mode: an unknown id from the client is replaced (validate_sid sends EXISTS).
ini_set('session.use_strict_mode', '1');
$known = request(null, function () {
    $_SESSION['user'] = 'cid';
});
$again = request($known, function () {
    expect($_SESSION['user'], 'cid', 'strict mode keeps a known id');
});
expect($again, $known, 'strict mode session id');
$fresh = request('unknownsessionid0123456789abcdef', function () {
    expect($_SESSION, [], 'strict mode session for an unknown id');
    $_SESSION['x'] = 1;
});
if ($fresh === 'unknownsessionid0123456789abcdef') {
    throw new RuntimeException('strict mode accepted an unknown id');
}
expect($server->exists(PREFIX . 'unknownsessionid0123456789abcdef'), 0, 'no key for the unknown id');
expect($server->exists(PREFIX . $fresh), 1, 'key for the replacement id');

// A persistent connection (reused with an ECHO liveness check), database 2 (SELECT before
// every command in phpredis 5.3.7) and a custom prefix.
ini_set('session.use_strict_mode', '0');
ini_set('session.save_path', "tcp://127.0.0.1:$port?persistent=1&database=2&prefix=APP:&timeout=2");
$server->flushDB();
$server->select(2);
$server->flushDB();
$pid = request(null, function () {
    $_SESSION['n'] = 1;
});
for ($i = 0; $i < 3; $i++) {
    request($pid, function () {
        $_SESSION['n']++;
    });
}
expect($server->get('APP:' . $pid), 'n|i:4;', 'session through a persistent connection in db 2');
expect_ttl($server, 'APP:' . $pid, 600);
$server->flushDB();
$server->select(0);
expect($server->dbSize(), 0, 'nothing written to db 0');

$server->flushDB();
echo 'PHP ' . PHP_VERSION . ' session handler with phpredis ' . phpversion('redis') . ": ok\n";
