<?php
// phpredis session locking (redis.session.locking_enabled = 1).
//
// Usage: php php_session_locking.php PORT
//
// The lock is taken with SET <id>_LOCK <secret> NX PX <ms>, checked with GET before the
// write, and released with the compare-and-delete script.

declare(strict_types=1);

require __DIR__ . '/php_common.php';

$port = (int) ($argv[1] ?? 0);
if ($port <= 0) {
    fwrite(STDERR, "usage: php php_session_locking.php PORT\n");
    exit(2);
}

const PREFIX = 'PHPREDIS_SESSION:';

// Child mode (`php php_session_locking.php PORT child SID`): one request that reads a
// counter from the session, works for 300 ms, and writes it back incremented.
if (($argv[2] ?? '') === 'child') {
    ini_set('session.save_handler', 'redis');
    ini_set('session.save_path', "tcp://127.0.0.1:$port");
    ini_set('session.gc_maxlifetime', '600');
    ini_set('session.use_cookies', '0');
    ini_set('session.cache_limiter', '');
    ini_set('redis.session.locking_enabled', '1');
    ini_set('redis.session.lock_expire', '30');
    ini_set('redis.session.lock_wait_time', '20000');
    ini_set('redis.session.lock_retries', '500');
    session_id($argv[3]);
    session_start();
    $n = $_SESSION['n'] ?? 0;
    usleep(300000);
    $_SESSION['n'] = $n + 1;
    session_write_close();
    exit(0);
}

ini_set('session.save_handler', 'redis');
ini_set('session.save_path', "tcp://127.0.0.1:$port");
ini_set('session.gc_maxlifetime', '600');
ini_set('session.use_cookies', '0');
ini_set('session.cache_limiter', '');
ini_set('redis.session.locking_enabled', '1');
ini_set('redis.session.lock_expire', '30');
ini_set('redis.session.lock_wait_time', '20000');
ini_set('redis.session.lock_retries', '5');

$server = new Redis();
$server->connect('127.0.0.1', $port);
$server->flushDB();
$server->script('flush');

// Two requests: the first release goes EVALSHA -> NOSCRIPT -> EVAL, the second hits EVALSHA.
$id = null;
foreach (['ann', 'bob'] as $i => $user) {
    if ($id !== null) {
        session_id($id);
    }
    session_start();
    $id = session_id();
    $lock = PREFIX . $id . '_LOCK';
    expect($server->exists($lock), 1, 'lock key while the session is open');
    $pttl = $server->pttl($lock);
    if ($pttl <= 0 || $pttl > 30000) {
        throw new RuntimeException("PTTL of the lock: $pttl");
    }
    if ($i === 1) {
        expect($_SESSION['user'], 'ann', 'session read under the lock');
    }
    $_SESSION['user'] = $user;
    session_write_close();
    expect($server->exists($lock), 0, 'lock released after session_write_close');
    expect($server->get(PREFIX . $id), 'user|s:3:"' . $user . '";', 'stored session');
}

// A lock held by someone else: session_start waits, then gives up (lock_retries).
$server->set(PREFIX . $id . '_LOCK', 'other-host|1', ['nx', 'px' => 30000]);
session_id($id);
$failed = false;
try {
    $failed = !session_start();
} catch (ErrorException $e) {
    $failed = true; // "Failed to read session data"
}
if (!$failed) {
    throw new RuntimeException('session_start succeeded while another process held the lock');
}
if (session_status() === PHP_SESSION_ACTIVE) {
    session_abort();
}
expect($server->get(PREFIX . $id . '_LOCK'), 'other-host|1', 'a foreign lock is left alone');

// Two concurrent requests on one session serialize: without the lock both would read
// n = 0 and one increment would be lost.
$shared = 'concurrent' . getmypid();
$server->set(PREFIX . $shared, 'n|i:0;');
$children = [];
foreach ([1, 2] as $_) {
    $children[] = proc_open(
        [PHP_BINARY, __FILE__, (string) $port, 'child', $shared],
        [1 => ['file', '/dev/null', 'w'], 2 => ['pipe', 'w']],
        $pipes
    );
    $errors[] = $pipes[2];
}
foreach ($children as $n => $child) {
    $stderr = stream_get_contents($errors[$n]);
    $status = proc_close($child);
    if ($status !== 0) {
        throw new RuntimeException("child request failed ($status): $stderr");
    }
}
expect($server->get(PREFIX . $shared), 'n|i:2;', 'both concurrent increments kept');
$ttl = $server->ttl(PREFIX . $shared);
if ($ttl < 595 || $ttl > 600) {
    throw new RuntimeException("session TTL $ttl does not follow session.gc_maxlifetime (600)");
}
expect($server->exists(PREFIX . $shared . '_LOCK'), 0, 'lock released by the last request');

$server->flushDB();
echo 'phpredis ' . phpversion('redis') . " session locking: ok\n";
