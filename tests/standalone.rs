//! What tests/differential/standalone.redis cannot compare with redis-server 7.0.15:
//! CLUSTER MYSHARDID (Redis 7.2's subcommand: 7.0 calls it unknown, 7.2 answers that
//! cluster support is disabled), SCRIPT DEBUG YES/SYNC (Roost has no Lua debugger),
//! MODULE LOAD/UNLOAD once `enable-module-command` allows them, and LOLWUT, whose
//! version line names the version each server answers as.

mod common;

use std::net::SocketAddr;

use common::inprocess::InProcess;
use common::process::RedisServer;
use common::TestServer;

const CLUSTER_DISABLED: &[u8] = b"-ERR This instance has cluster support disabled\r\n";

#[test]
fn cluster_myshardid_is_refused_as_redis_7_2_refuses_every_cluster_subcommand() {
    let server = InProcess::start();
    let mut c = server.client();
    c.roundtrip(&[b"CLUSTER", b"MYSHARDID"], CLUSTER_DISABLED);
    c.roundtrip(
        &[b"CLUSTER", b"MYSHARDID", b"x"],
        b"-ERR wrong number of arguments for 'cluster|myshardid' command\r\n",
    );
    c.roundtrip(&[b"READONLY"], CLUSTER_DISABLED);
}

#[test]
fn script_debug_refuses_the_modes_that_need_the_lua_debugger() {
    let server = InProcess::start();
    let mut c = server.client();
    let refused: &[u8] =
        b"-ERR SCRIPT DEBUG YES and SYNC are not supported: this server has no Lua debugger\r\n";
    c.roundtrip(&[b"SCRIPT", b"DEBUG", b"YES"], refused);
    c.roundtrip(&[b"SCRIPT", b"DEBUG", b"sync"], refused);
    c.roundtrip(&[b"SCRIPT", b"DEBUG", b"no"], b"+OK\r\n");
    // Scripts still run as before (no debugging session was started).
    c.roundtrip(&[b"EVAL", b"return 1", b"0"], b":1\r\n");
}

#[test]
fn module_load_and_unload_fail_as_redis_does_for_a_library_it_cannot_load() {
    let refused: &[u8] = b"-ERR MODULE command not allowed. If the enable-module-command option \
is set to \"local\", you can run it from a local connection, otherwise you need to set this \
option in the configuration file, and then restart the server.\r\n";
    let remote = SocketAddr::from(([10, 0, 0, 5], 40000));
    let local = SocketAddr::from(([127, 0, 0, 1], 40000));

    let off = InProcess::start();
    off.client_from(local)
        .roundtrip(&[b"MODULE", b"LOAD", b"/x.so"], refused);

    let local_only = InProcess::with_config(|c| c.enable_module_command = "local".into());
    local_only
        .client_from(remote)
        .roundtrip(&[b"MODULE", b"UNLOAD", b"x"], refused);

    let on = InProcess::with_config(|c| c.enable_module_command = "yes".into());
    for (server, addr) in [(&local_only, local), (&on, remote)] {
        let mut c = server.client_from(addr);
        c.roundtrip(
            &[b"MODULE", b"LOAD", b"/x.so", b"arg"],
            b"-ERR Error loading the extension. Please check the server logs.\r\n",
        );
        c.roundtrip(
            &[b"MODULE", b"LOADEX", b"/x.so", b"CONFIG", b"a", b"b"],
            b"-ERR Error loading the extension. Please check the server logs.\r\n",
        );
        c.roundtrip(
            &[b"MODULE", b"UNLOAD", b"x"],
            b"-ERR Error unloading module: no such module with that name\r\n",
        );
        c.roundtrip(&[b"MODULE", b"LIST"], b"*0\r\n");
    }
}

fn lolwut(con: &mut redis::Connection, args: &[&str]) -> String {
    let mut cmd = redis::cmd("LOLWUT");
    for arg in args {
        cmd.arg(*arg);
    }
    cmd.query(con).unwrap()
}

/// The text without its last line's version (`Redis ver. X`).
fn without_version(text: &str) -> &str {
    let at = text.rfind("Redis ver. ").expect("a version line");
    &text[..at]
}

#[test]
fn lolwut_draws_as_redis_draws() {
    let redis = RedisServer::start();
    let roost = TestServer::start();
    let mut theirs = redis::Client::open(redis.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let mut ours = roost.client();

    // Without VERSION 5 or 6: only the version line, Redis's shape.
    assert_eq!(
        lolwut(&mut ours, &[]),
        format!("Redis ver. {}\n", roost::VERSION_COMPAT)
    );
    assert!(lolwut(&mut theirs, &[]).starts_with("Redis ver. "));
    assert_eq!(
        lolwut(&mut ours, &["VERSION", "7"]),
        lolwut(&mut ours, &["foo"])
    );

    // Schotter with at most two rows of squares uses no randomness: byte for byte
    // Redis's, up to the version, at sizes and clamps of every kind.
    for args in [
        ["20", "3", "2"],
        ["7", "1", "1"],
        ["1", "1", "1"],
        ["66", "8", "2"],
        ["5000", "300", "2"],
        ["-3", "0", "-1"],
        ["33", "5", "2"],
    ] {
        let mut request = vec!["VERSION", "5"];
        request.extend(args);
        let ours_text = lolwut(&mut ours, &request);
        let theirs_text = lolwut(&mut theirs, &request);
        assert_eq!(
            without_version(&ours_text),
            without_version(&theirs_text),
            "LOLWUT {request:?}"
        );
        assert!(ours_text.ends_with(&format!(
            "Georg Nees - schotter, plotter on paper, 1968. Redis ver. {}\n",
            roost::VERSION_COMPAT
        )));
    }

    // The full picture is random below its second row: the same size as Redis's, one
    // Braille character per 2x4 pixels.
    let ours_text = lolwut(&mut ours, &["VERSION", "5"]);
    let theirs_text = lolwut(&mut theirs, &["VERSION", "5"]);
    let shape = |text: &str| -> Vec<usize> {
        without_version(text)
            .lines()
            .map(|l| l.chars().count())
            .collect()
    };
    assert_eq!(shape(&ours_text), shape(&theirs_text));
    assert!(without_version(&ours_text)
        .lines()
        .flat_map(|l| l.chars())
        .all(|c| ('\u{2800}'..='\u{28ff}').contains(&c)
            || c == ' '
            || c.is_alphabetic()
            || ",.-".contains(c)
            || c.is_ascii_digit()));

    // VERSION 6: a skyline of 80x20 (or the given size) coloured cells in the four
    // greys, then Redis's two lines of credits.
    for (args, cols, rows) in [(&[][..], 80, 20), (&["12", "7"][..], 12, 7)] {
        let mut request = vec!["VERSION", "6"];
        request.extend(args);
        let text = lolwut(&mut ours, &request);
        let theirs_text = lolwut(&mut theirs, &request);
        let picture =
            |text: &str| -> Vec<String> { text.lines().take(rows).map(str::to_string).collect() };
        for (line, their_line) in picture(&text).iter().zip(picture(&theirs_text)) {
            let cells: Vec<&str> = line.split("\x1b[0m").filter(|c| !c.is_empty()).collect();
            assert_eq!(cells.len(), cols, "{line:?}");
            for cell in cells {
                assert!(
                    [
                        "\x1b[0;30;40m ",
                        "\x1b[0;90;100m ",
                        "\x1b[0;37;47m ",
                        "\x1b[0;97;107m "
                    ]
                    .contains(&cell),
                    "{cell:?}"
                );
            }
            assert_eq!(
                line.matches("\x1b[0m").count(),
                their_line.matches("\x1b[0m").count()
            );
        }
        let credits: Vec<&str> = text.lines().skip(rows).collect();
        assert_eq!(
            credits,
            [
                "Dedicated to the 8 bit game developers of past and present.".to_string(),
                format!(
                    "Original 8 bit image from Plaguemon by hikikomori. Redis ver. {}",
                    roost::VERSION_COMPAT
                )
            ]
        );
        assert_eq!(
            without_version(&text)
                .lines()
                .skip(rows)
                .collect::<Vec<_>>(),
            without_version(&theirs_text)
                .lines()
                .skip(rows)
                .collect::<Vec<_>>()
        );
    }
}

#[test]
fn lolwut_is_verbatim_text_in_resp3() {
    let server = TestServer::start();
    let mut raw = server.raw();
    raw.hello3();
    let expected = format!("Redis ver. {}\n", roost::VERSION_COMPAT);
    raw.roundtrip(
        &[b"LOLWUT"],
        format!("={}\r\ntxt:{expected}\r\n", expected.len() + 4).as_bytes(),
    );
}
