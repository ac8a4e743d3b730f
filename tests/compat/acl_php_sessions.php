<?php
// PHP native sessions (phpredis) as a restricted ACL user, locking included.
//
// Usage: php acl_php_sessions.php PORT
//
// The server runs with session_users.conf: the default user is off, `admin` checks what
// is stored, and `php` (`~PHPREDIS_SESSION:* +@read +@write -@dangerous +evalsha +eval`)
// is what the session handler logs in as, from
// `session.save_path = "tcp://127.0.0.1:PORT?auth[]=php&auth[]=php-secret"`. Through it:
// create (SETEX), read, update, lazy_write refresh (EXPIRE), regenerate, destroy, expiry,
// strict mode (EXISTS), and session locking: `SET PHPREDIS_SESSION:<id>_LOCK <secret> NX PX`,
// released by a compare-and-delete script (EVALSHA, then EVAL after NOSCRIPT) whose GET
// and DEL of the lock key are checked against the user's keys too. Nothing the handler
// sends is refused; without +evalsha +eval the release fails and the lock stays until
// lock_expire. With the same credentials FLUSHALL, KEYS, CONFIG GET and keys outside the
// prefix get NOPERM, logged in ACL LOG.

declare(strict_types=1);

require __DIR__ . '/php_common.php';

$port = (int) ($argv[1] ?? 0);
if ($port <= 0) {
    fwrite(STDERR, "usage: php acl_php_sessions.php PORT\n");
    exit(2);
}

const PREFIX = 'PHPREDIS_SESSION:';
const USER = 'php';
const PASSWORD = 'php-secret';

function use_sessions(int $port, bool $locking): void
{
    ini_set('session.save_handler', 'redis');
    ini_set('session.save_path', "tcp://127.0.0.1:$port?auth[]=" . USER . '&auth[]=' . PASSWORD);
    ini_set('session.gc_maxlifetime', '600');
    ini_set('session.use_cookies', '0');
    ini_set('session.use_strict_mode', '0');
    ini_set('session.cache_limiter', '');
    ini_set('redis.session.locking_enabled', $locking ? '1' : '0');
    ini_set('redis.session.lock_expire', '30');
    ini_set('redis.session.lock_wait_time', '20000');
    ini_set('redis.session.lock_retries', '500');
}

// Child mode (`php acl_php_sessions.php PORT child SID`): one locked request that reads a
// counter, works for 300 ms and writes it back incremented.
if (($argv[2] ?? '') === 'child') {
    use_sessions($port, true);
    request($argv[3], function () {
        $n = $_SESSION['n'] ?? 0;
        usleep(300000);
        $_SESSION['n'] = $n + 1;
    });
    exit(0);
}

$admin = new Redis();
$admin->connect('127.0.0.1', $port);
$admin->auth(['admin', 'admin-secret']);
$version72 = !preg_match('/^7\.[01]\./', $admin->info('server')['redis_version']);
$admin->flushAll();
$admin->script('flush');
$admin->rawCommand('ACL', 'LOG', 'RESET');

/** USER's refusals in ACL LOG, as "reason object". */
function refusals(Redis $admin): array
{
    $found = [];
    foreach ($admin->rawCommand('ACL', 'LOG') as $entry) {
        $fields = [];
        for ($i = 0; $i < count($entry); $i += 2) {
            $fields[$entry[$i]] = $entry[$i + 1];
        }
        if ($fields['username'] === USER) {
            $found[] = $fields['reason'] . ' ' . $fields['object'];
        }
    }
    return $found;
}

// The default user is off.
$anonymous = new Redis();
$anonymous->connect('127.0.0.1', $port);
try {
    $anonymous->get(PREFIX . 'x');
    throw new RuntimeException('the default user was served');
} catch (RedisException $e) {
    expect(str_starts_with($e->getMessage(), 'NOAUTH'), true, 'default user: ' . $e->getMessage());
}

// --- Without locking: the whole lifecycle.
use_sessions($port, false);
$id = request(null, function () {
    $_SESSION['user'] = 'ann';
    $_SESSION['cart'] = [];
});
expect($admin->keys('*'), [PREFIX . $id], 'keys after login');
expect($admin->get(PREFIX . $id), 'user|s:3:"ann";cart|a:0:{}', 'stored session');
expect_ttl($admin, PREFIX . $id, 600);
request($id, function () {
    expect($_SESSION, ['user' => 'ann', 'cart' => []], 'session read back');
    $_SESSION['cart'][] = 'apple';
});
expect($admin->get(PREFIX . $id), 'user|s:3:"ann";cart|a:1:{i:0;s:5:"apple";}', 'stored update');
$admin->expire(PREFIX . $id, 100);
request($id, function () {
    expect($_SESSION['cart'], ['apple'], 'unchanged read');
});
expect_ttl($admin, PREFIX . $id, 600); // lazy_write: EXPIRE
$new = request($id, function () {
    session_regenerate_id(true);
});
expect($new !== $id, true, 'session_regenerate_id changed the id');
expect($admin->exists(PREFIX . $id), 0, 'old key after regenerate');
expect($admin->get(PREFIX . $new), 'user|s:3:"ann";cart|a:1:{i:0;s:5:"apple";}', 'moved session');
request($new, function () {
    session_destroy();
});
expect($admin->exists(PREFIX . $new), 0, 'key after session_destroy');
ini_set('session.gc_maxlifetime', '1');
$short = request(null, function () {
    $_SESSION['user'] = 'bob';
});
expect_ttl($admin, PREFIX . $short, 1);
usleep(2200000);
expect($admin->exists(PREFIX . $short), 0, 'key after expiry');
ini_set('session.gc_maxlifetime', '600');
request($short, function () {
    expect($_SESSION, [], 'session after expiry');
    session_abort();
});
ini_set('session.use_strict_mode', '1'); // validate_sid: EXISTS
$fresh = request('unknownsessionid0123456789abcdef', function () {
    $_SESSION['x'] = 1;
});
expect($fresh !== 'unknownsessionid0123456789abcdef', true, 'strict mode replaced an unknown id');
expect($admin->exists(PREFIX . $fresh), 1, 'key for the replacement id');
ini_set('session.use_strict_mode', '0');

// --- With locking: the lock key is in the prefix, the release script runs as the user.
use_sessions($port, true);
foreach (['ann', 'bob'] as $i => $user) { // the first release: EVALSHA, NOSCRIPT, EVAL
    $lock = PREFIX . $fresh . '_LOCK';
    request($fresh, function () use ($admin, $lock, $user) {
        expect($admin->exists($lock), 1, 'lock while the session is open');
        $_SESSION['user'] = $user;
    });
    expect($admin->exists($lock), 0, 'lock released by the script');
    expect($admin->get(PREFIX . $fresh), 'x|i:1;user|s:3:"' . $user . '";', 'stored under the lock');
}
$shared = 'concurrent' . getmypid();
$admin->set(PREFIX . $shared, 'n|i:0;');
$children = [];
$errors = [];
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
expect($admin->get(PREFIX . $shared), 'n|i:2;', 'concurrent locked requests serialized');
expect($admin->exists(PREFIX . $shared . '_LOCK'), 0, 'lock released by the last request');
expect(refusals($admin), [], 'refused during the session lifecycle');

// --- What the user may not do.
$client = new Redis();
$client->connect('127.0.0.1', $port);
$client->auth([USER, PASSWORD]);
$admin->set('other:1', 'kept');
$run = fn (string $command): string => $version72
    ? "NOPERM User php has no permissions to run the '$command' command"
    : "NOPERM this user has no permissions to run the '$command' command";
$key = $version72
    ? 'NOPERM No permissions to access a key'
    : 'NOPERM this user has no permissions to access one of the keys used as arguments';
$refusals = [
    'FLUSHALL' => [fn () => $client->flushAll(), $run('flushall')],
    'KEYS' => [fn () => $client->keys('*'), $run('keys')],
    'CONFIG GET' => [fn () => $client->config('GET', '*'), $run('config|get')],
    'GET outside the prefix' => [fn () => $client->get('other:1'), $key],
    'SET outside the prefix' => [fn () => $client->set('other:2', 'x'), $key],
    // A script's declared keys are checked before it runs (and each redis.call inside).
    'EVAL outside the prefix' => [fn () => $client->eval("return redis.call('get', KEYS[1])", ['other:1'], 1), $key],
];
foreach ($refusals as $what => [$call, $text]) {
    $client->clearLastError();
    try {
        $result = $call();
    } catch (RedisException $e) {
        $result = $e->getMessage();
    }
    // phpredis 5.3 keeps some errors with a trailing NUL byte.
    $error = rtrim((string) ($client->getLastError() ?? $result), "\0");
    expect($error, $text, $what);
}
expect($admin->get('other:1'), 'kept', 'other:1 untouched');
expect($admin->exists('other:2'), 0, 'nothing written outside the prefix');
$log = refusals($admin);
foreach (['command flushall', 'command keys', 'command config|get', 'key other:1', 'key other:2'] as $entry) {
    expect(in_array($entry, $log, true), true, "$entry in ACL LOG " . json_encode($log));
}

$admin->flushAll();
echo 'phpredis ' . phpversion('redis') . ' sessions (locking too) as ' . USER . ": ok\n";
