<?php
// PHP over TLS (Debian's php-redis 5.3.7) against a server started with
// `--tls-auth-clients optional`: native sessions over `tls://` (phpredis 5.3's session
// handler takes no stream options, so the CA comes from `openssl.cafile` and no client
// certificate is sent), then the Redis class presenting a client certificate.
//
// Usage: php tls_php.php TLS_PORT CERT_DIR   (CERT_DIR holds ca.crt, client.crt, client.key)

[$_, $port, $dir] = $argv;

function expect($actual, $expected, $what) {
    if ($actual !== $expected) {
        fwrite(STDERR, "$what: expected " . var_export($expected, true) . ", got " . var_export($actual, true) . "\n");
        exit(1);
    }
}

// openssl.cafile can only be set at startup: run again with it.
if (ini_get('openssl.cafile') !== "$dir/ca.crt") {
    $cmd = escapeshellarg(PHP_BINARY) . ' -d ' . escapeshellarg("openssl.cafile=$dir/ca.crt")
        . ' ' . escapeshellarg(__FILE__) . ' ' . escapeshellarg($port) . ' ' . escapeshellarg($dir);
    passthru($cmd, $status);
    exit($status);
}
ini_set('session.save_handler', 'redis');
ini_set('session.save_path', "tls://127.0.0.1:$port?prefix=TLSSESS_");
ini_set('session.gc_maxlifetime', '600');
ini_set('session.use_cookies', '0');
ini_set('session.use_strict_mode', '0');
ini_set('session.serialize_handler', 'php');

session_id('tlsphp1');
expect(session_start(), true, 'session_start over tls://');
$_SESSION['user'] = 'alice';
session_write_close();

$ctx = ['stream' => [
    'cafile' => "$dir/ca.crt",
    'local_cert' => "$dir/client.crt",
    'local_pk' => "$dir/client.key",
]];
$r = new Redis();
expect($r->connect("tls://127.0.0.1", (int)$port, 5, NULL, 0, 0, $ctx), true, 'connect with a client certificate');
expect($r->get('TLSSESS_tlsphp1'), 'user|s:5:"alice";', 'the session as stored');
$ttl = $r->ttl('TLSSESS_tlsphp1');
expect($ttl > 0 && $ttl <= 600, true, "TTL = session.gc_maxlifetime ($ttl)");

// Read back through the session handler in a fresh session.
$_SESSION = [];
session_id('tlsphp1');
expect(session_start(), true, 'session_start again');
expect($_SESSION['user'] ?? null, 'alice', 'the session read back over TLS');
session_destroy();
expect($r->exists('TLSSESS_tlsphp1'), 0, 'destroyed');
echo "ok\n";
