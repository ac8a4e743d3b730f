<?php
// PHP's native session handler with phpredis over a Unix socket, as a PHP application on
// the same host as the server is configured: session.save_path = "unix:///path/to.sock".
//
// Usage: php php_session_unix.php SOCKET_PATH
//
// Sessions written, read, refreshed and destroyed through the socket; the server checked
// through phpredis' Redis class on the same socket (connect('/path')): the key, the data,
// the TTL, and that the server sees these clients as Unix clients (CLIENT INFO: addr is
// the socket's path, flag U). Then a persistent connection with a database and a prefix
// in the save path's query, as on TCP.

declare(strict_types=1);

require __DIR__ . '/php_common.php';

$socket = $argv[1] ?? '';
if ($socket === '' || $socket[0] !== '/') {
    fwrite(STDERR, "usage: php php_session_unix.php /absolute/path/to.sock\n");
    exit(2);
}
if (!extension_loaded('redis')) {
    fwrite(STDERR, "the redis extension is not loaded: apt-get install php-redis\n");
    exit(2);
}

const PREFIX = 'PHPREDIS_SESSION:';

ini_set('session.save_handler', 'redis');
ini_set('session.save_path', "unix://$socket");
ini_set('session.gc_maxlifetime', '600');
ini_set('session.use_cookies', '0');
ini_set('session.use_strict_mode', '0');
ini_set('session.cache_limiter', '');

$server = new Redis();
if (!$server->connect($socket)) {
    throw new RuntimeException("cannot connect to $socket");
}
$server->flushDB();

// The server sees this connection on its socket.
$info = $server->rawCommand('CLIENT', 'INFO');
if (strpos($info, "addr=$socket:0 laddr=$socket:0 ") === false || !preg_match('/ flags=U /', $info)) {
    throw new RuntimeException("CLIENT INFO over the socket: $info");
}

// Create, read, update.
$id = request(null, function () {
    $_SESSION['user'] = 'ann';
    $_SESSION['cart'] = [];
});
expect($server->keys(PREFIX . '*'), [PREFIX . $id], 'keys after the first request');
expect($server->get(PREFIX . $id), 'user|s:3:"ann";cart|a:0:{}', 'stored session data');
expect_ttl($server, PREFIX . $id, 600);
request($id, function () {
    expect($_SESSION, ['user' => 'ann', 'cart' => []], 'session read back');
    $_SESSION['cart'][] = 'apple';
});
expect($server->get(PREFIX . $id), 'user|s:3:"ann";cart|a:1:{i:0;s:5:"apple";}', 'stored update');

// Unchanged data: lazy_write refreshes the TTL only.
$server->expire(PREFIX . $id, 100);
request($id, function () {
    expect($_SESSION['cart'], ['apple'], 'read of the updated session');
});
expect_ttl($server, PREFIX . $id, 600);

// Regenerate, then destroy.
$new = request($id, function () {
    session_regenerate_id(true);
});
expect($server->exists(PREFIX . $id), 0, 'old key after regenerate');
request($new, function () {
    session_destroy();
});
expect($server->exists(PREFIX . $new), 0, 'key after session_destroy');
expect($server->keys(PREFIX . '*'), [], 'keys after logout');

// A persistent connection, database 2 and a prefix, in the unix:// save path's query.
ini_set('session.save_path', "unix://$socket?persistent=1&database=2&prefix=APP:&timeout=2");
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

echo 'PHP ' . PHP_VERSION . ' session handler with phpredis ' . phpversion('redis') . " over unix://: ok\n";
