<?php
// What the PHP compatibility scripts share: warnings become exceptions, `expect`, the
// TTL check, and one session "request" (session_start ... session_write_close).

declare(strict_types=1);

set_error_handler(function (int $no, string $msg, string $file, int $line): bool {
    throw new ErrorException($msg, 0, $no, $file, $line);
});

function expect($actual, $expected, string $what): void
{
    if ($actual !== $expected) {
        throw new RuntimeException($what . ': expected ' . var_export($expected, true) . ', got ' . var_export($actual, true));
    }
}

function expect_ttl(Redis $server, string $key, int $expected): void
{
    $ttl = $server->ttl($key);
    if (!is_int($ttl) || $ttl < $expected - 2 || $ttl > $expected) {
        throw new RuntimeException("TTL of $key: " . var_export($ttl, true) . ", expected $expected");
    }
}

/** One request: open the session with the given id (or a new one), run $body, save. */
function request(?string $id, callable $body): string
{
    if ($id !== null) {
        session_id($id);
    }
    if (!session_start()) {
        throw new RuntimeException('session_start failed');
    }
    $body();
    $sid = session_id();
    if (session_status() === PHP_SESSION_ACTIVE && !session_write_close()) {
        throw new RuntimeException('session_write_close failed');
    }
    return $sid;
}
