//! ACL users, as in Redis 7: who may log in with which password, and which commands,
//! keys and channels each user may touch.
//!
//! The command table sits above this layer, so it hands down what ACLs need to know
//! about commands as a `Catalog`. Each user's rules are applied to a precomputed command
//! bitmap per selector, so checking a request is a bit test plus, for users limited to
//! some keys or channels, a glob match per key or channel.
//!
//! Rules change while clients are logged in (ACL SETUSER applies to the next command of
//! every connection of that user, as in Redis). A user's rules are an immutable
//! `Arc<Rules>` swapped whole under a version number: each connection keeps its own
//! `Login`, which rereads the rules only when the version moved, so a request pays one
//! atomic load, and a user with every permission (the default user, unless configured
//! otherwise) nothing more.

pub mod catalog;
pub mod rules;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use bytes::Bytes;

pub use catalog::{category, Catalog, Channels, Entry, FindKeys, KeyRange, KEY_READ, KEY_WRITE};
pub use rules::{hash_password, merge_selectors, Denied, RuleError, Rules};

use crate::sync::RecoverRw;

/// A random password of `bits` bits as hex (ACL GENPASS), from the kernel's generator.
pub fn generate_password(bits: usize) -> String {
    use std::io::Read;
    let chars = bits.div_ceil(4);
    let mut bytes = vec![0u8; chars.div_ceil(2)];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("the kernel's random generator is readable");
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    hex[..chars].to_string()
}

/// One user: a name and its current rules.
#[derive(Debug)]
pub struct User {
    pub name: String,
    version: AtomicU64,
    rules: RwLock<Arc<Rules>>,
}

impl User {
    fn new(name: &str, rules: Rules) -> User {
        User {
            name: name.to_string(),
            version: AtomicU64::new(0),
            rules: RwLock::new(Arc::new(rules)),
        }
    }

    pub fn rules(&self) -> Arc<Rules> {
        self.rules.reading().clone()
    }

    fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    fn set_rules(&self, rules: Rules) {
        *self.rules.writing() = Arc::new(rules);
        self.version.fetch_add(1, Ordering::Release);
    }
}

/// A connection's user and its copy of that user's rules.
pub struct Login {
    user: Arc<User>,
    rules: Arc<Rules>,
    version: u64,
}

impl Login {
    pub fn new(user: Arc<User>) -> Login {
        let version = user.version();
        let rules = user.rules();
        Login {
            user,
            rules,
            version,
        }
    }

    pub fn user(&self) -> &Arc<User> {
        &self.user
    }

    /// The user's rules as they are now.
    #[inline]
    pub fn rules(&mut self) -> &Rules {
        let version = self.user.version();
        if version != self.version {
            self.rules = self.user.rules();
            self.version = version;
        }
        &self.rules
    }
}

/// Counters for INFO stats `acl_access_denied_*`.
#[derive(Default)]
pub struct DeniedStats {
    pub auth: AtomicU64,
    pub command: AtomicU64,
    pub key: AtomicU64,
    pub channel: AtomicU64,
}

impl DeniedStats {
    /// CONFIG RESETSTAT.
    pub fn reset(&self) {
        for c in [&self.auth, &self.command, &self.key, &self.channel] {
            c.store(0, Ordering::Relaxed);
        }
    }
}

/// One ACL LOG entry: a refusal, grouped with identical ones in the next minute.
#[derive(Debug, Clone)]
pub struct LogEntry {
    pub count: u64,
    /// `command`, `key`, `channel` or `auth`.
    pub reason: &'static str,
    /// `toplevel`, `multi` or `lua`.
    pub context: &'static str,
    /// The command, key or channel refused (`AUTH` for a failed login).
    pub object: String,
    pub username: String,
    /// The client as CLIENT LIST showed it at the latest refusal.
    pub client_info: String,
    pub entry_id: u64,
    pub created_ms: u64,
    pub updated_ms: u64,
}

/// Refusals within this many milliseconds of an identical one are counted with it.
const LOG_GROUPING_MS: u64 = 60_000;

#[derive(Default)]
struct Log {
    /// Newest first.
    entries: std::collections::VecDeque<LogEntry>,
    next_id: u64,
}

/// Why ACL SETUSER (or a `user` line) was refused: Redis's texts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetUserError {
    /// `Error in ACL SETUSER modifier '<rule>': <why>`.
    Rule(String, RuleError),
    /// Unmatched parenthesis, a bad name.
    Other(String),
}

impl std::fmt::Display for SetUserError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SetUserError::Rule(rule, why) => {
                write!(f, "Error in ACL SETUSER modifier '{rule}': {}", why.text())
            }
            SetUserError::Other(text) => f.write_str(text),
        }
    }
}

/// A server's users.
pub struct Acl {
    catalog: Arc<Catalog>,
    users: RwLock<BTreeMap<String, Arc<User>>>,
    default: Arc<User>,
    /// `acl-pubsub-default`: new users and selectors get every channel.
    pubsub_all: AtomicBool,
    pub denied: DeniedStats,
    log: std::sync::Mutex<Log>,
}

impl Acl {
    /// The users of a new server: only `default`, with every permission and no password.
    pub fn new(catalog: Arc<Catalog>) -> Acl {
        let mut rules = Rules::new(&catalog, false);
        for rule in ["on", "nopass", "~*", "&*", "+@all"] {
            rules
                .apply(&catalog, rule, false)
                .expect("the default user's rules are valid");
        }
        let default = Arc::new(User::new("default", rules));
        let users = BTreeMap::from([("default".to_string(), default.clone())]);
        Acl {
            catalog,
            users: RwLock::new(users),
            default,
            pubsub_all: AtomicBool::new(false),
            denied: DeniedStats::default(),
            log: std::sync::Mutex::default(),
        }
    }

    /// Records a refusal in ACL LOG (Redis's `addACLLogEntry`): an identical refusal
    /// (reason, context, object, user) within a minute adds to that entry's count.
    #[allow(clippy::too_many_arguments)]
    pub fn log_refusal(
        &self,
        reason: &'static str,
        context: &'static str,
        object: &str,
        username: &str,
        client_info: String,
        now_ms: u64,
        max_len: usize,
    ) {
        use crate::sync::Recover;
        let mut log = self.log.locked();
        let same = log.entries.iter().position(|e| {
            e.reason == reason
                && e.context == context
                && e.object == object
                && e.username == username
                && now_ms.saturating_sub(e.updated_ms) < LOG_GROUPING_MS
        });
        let entry = match same.and_then(|i| log.entries.remove(i)) {
            Some(mut entry) => {
                entry.count += 1;
                entry.updated_ms = now_ms;
                entry.client_info = client_info;
                entry
            }
            None => {
                let entry_id = log.next_id;
                log.next_id += 1;
                LogEntry {
                    count: 1,
                    reason,
                    context,
                    object: object.to_string(),
                    username: username.to_string(),
                    client_info,
                    entry_id,
                    created_ms: now_ms,
                    updated_ms: now_ms,
                }
            }
        };
        log.entries.push_front(entry);
        log.entries.truncate(max_len);
    }

    /// The newest `count` entries of ACL LOG.
    pub fn log_entries(&self, count: usize) -> Vec<LogEntry> {
        use crate::sync::Recover;
        self.log
            .locked()
            .entries
            .iter()
            .take(count)
            .cloned()
            .collect()
    }

    /// ACL LOG RESET.
    pub fn reset_log(&self) {
        use crate::sync::Recover;
        self.log.locked().entries.clear();
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub fn default_user(&self) -> &Arc<User> {
        &self.default
    }

    pub fn set_pubsub_all(&self, all: bool) {
        self.pubsub_all.store(all, Ordering::Relaxed);
    }

    /// True when new connections must AUTH: the default user has a password or is off
    /// (Redis's `authRequired`).
    pub fn requires_auth(&self) -> bool {
        let rules = self.default.rules();
        !rules.nopass || !rules.enabled
    }

    /// True when the default user can be used without a password (protected mode).
    pub fn default_is_open(&self) -> bool {
        self.default.rules().nopass
    }

    pub fn user(&self, name: &[u8]) -> Option<Arc<User>> {
        let name = std::str::from_utf8(name).ok()?;
        self.users.reading().get(name).cloned()
    }

    /// Every user, by name.
    pub fn users(&self) -> Vec<Arc<User>> {
        self.users.reading().values().cloned().collect()
    }

    /// AUTH: the user, if it exists, is on and the password opens it.
    pub fn authenticate(&self, name: &[u8], password: &[u8]) -> Option<Arc<User>> {
        let user = self.user(name)?;
        let ok = user.rules().accepts(password);
        ok.then_some(user)
    }

    /// Applies rules to a user, creating it if needed; all or nothing. Returns the user
    /// and whether its credentials changed (then its connections are closed).
    pub fn set_user(
        &self,
        name: &str,
        rules: &[String],
    ) -> Result<(Arc<User>, bool), SetUserError> {
        if name.contains(' ') || name.contains('\0') {
            return Err(SetUserError::Other(
                "Usernames can't contain spaces or null characters".into(),
            ));
        }
        let merged = merge_selectors(rules).map_err(SetUserError::Other)?;
        let pubsub_all = self.pubsub_all.load(Ordering::Relaxed);
        let mut users = self.users.writing();
        let existing = users.get(name).cloned();
        let before = match &existing {
            Some(user) => (*user.rules()).clone(),
            None => Rules::new(&self.catalog, pubsub_all),
        };
        let mut after = before.clone();
        for rule in &merged {
            after
                .apply(&self.catalog, rule, pubsub_all)
                .map_err(|why| SetUserError::Rule(rule.clone(), why))?;
        }
        let credentials_changed = !before.same_credentials(&after);
        match existing {
            Some(user) => {
                user.set_rules(after);
                Ok((user, credentials_changed))
            }
            None => {
                let user = Arc::new(User::new(name, after));
                users.insert(name.to_string(), user.clone());
                Ok((user, false))
            }
        }
    }

    /// `requirepass`: the default user's password (none: `nopass`).
    pub fn set_default_password(&self, password: Option<&str>) {
        let mut rules = (*self.default.rules()).clone();
        let pubsub_all = self.pubsub_all.load(Ordering::Relaxed);
        let _ = rules.apply(&self.catalog, "resetpass", pubsub_all);
        let rule = match password {
            Some(password) => format!(">{password}"),
            None => "nopass".into(),
        };
        let _ = rules.apply(&self.catalog, &rule, pubsub_all);
        self.default.set_rules(rules);
    }

    /// Removes a user; its connections must then be closed. The default user stays.
    pub fn delete_user(&self, name: &[u8]) -> Option<Arc<User>> {
        let name = std::str::from_utf8(name).ok()?;
        if name == "default" {
            return None;
        }
        let user = self.users.writing().remove(name)?;
        user.set_rules(Rules::nothing(&self.catalog));
        Some(user)
    }

    /// Replaces every user at once (an ACL file, `user` lines): users named in `lines`
    /// get exactly those rules, the default user keeps its own unless named. Nothing
    /// changes if a line is bad: the error gives the index of that line in `lines`.
    pub fn replace_all(
        &self,
        lines: &[(String, Vec<String>)],
    ) -> Result<(), (usize, SetUserError)> {
        let pubsub_all = self.pubsub_all.load(Ordering::Relaxed);
        let mut fresh: BTreeMap<String, Rules> = BTreeMap::new();
        for (index, (name, words)) in lines.iter().enumerate() {
            let fail = |e: SetUserError| (index, e);
            if name.contains(' ') || name.contains('\0') {
                return Err(fail(SetUserError::Other(
                    "Usernames can't contain spaces or null characters".into(),
                )));
            }
            if fresh.contains_key(name) {
                return Err(fail(SetUserError::Other(
                    "Duplicate user found. A user can only be defined once in config files".into(),
                )));
            }
            let merged = merge_selectors(words).map_err(|e| fail(SetUserError::Other(e)))?;
            let mut rules = Rules::new(&self.catalog, pubsub_all);
            for rule in &merged {
                rules
                    .apply(&self.catalog, rule, pubsub_all)
                    .map_err(|why| fail(SetUserError::Rule(rule.clone(), why)))?;
            }
            fresh.insert(name.clone(), rules);
        }
        let mut users = self.users.writing();
        for (name, user) in std::mem::take(&mut *users) {
            if name != "default" {
                // Replaced or gone: its connections run with no rights until closed.
                user.set_rules(Rules::nothing(&self.catalog));
            }
        }
        users.insert("default".into(), self.default.clone());
        for (name, rules) in fresh {
            if name == "default" {
                self.default.set_rules(rules);
            } else {
                users.insert(name.clone(), Arc::new(User::new(&name, rules)));
            }
        }
        Ok(())
    }

    /// Checks a request of `user`'s.
    #[inline(always)]
    pub fn check(&self, rules: &Rules, id: u16, args: &[Bytes]) -> Result<(), Denied> {
        rules.check(&self.catalog, id, args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// get (reads its key), set (writes it), config (a container with get/set),
    /// select, publish.
    fn catalog() -> Arc<Catalog> {
        let entry = |name: &str, parent, categories, keys: Vec<KeyRange>, channels| Entry {
            full_name: name.into(),
            parent,
            categories,
            exempt: name == "auth",
            keys,
            find_keys: None,
            channels,
        };
        let key = |access| {
            vec![KeyRange {
                index: 1,
                lastkey: 0,
                step: 1,
                access,
                read_only_with_get: false,
            }]
        };
        use category::*;
        Arc::new(Catalog::new(vec![
            entry(
                "get",
                None,
                READ | STRING | FAST,
                key(KEY_READ),
                Channels::None,
            ),
            entry(
                "set",
                None,
                WRITE | STRING | SLOW,
                key(KEY_WRITE),
                Channels::None,
            ),
            entry("config", None, SLOW, vec![], Channels::None),
            entry(
                "config|get",
                Some(2),
                ADMIN | DANGEROUS | SLOW,
                vec![],
                Channels::None,
            ),
            entry(
                "config|set",
                Some(2),
                ADMIN | DANGEROUS | SLOW,
                vec![],
                Channels::None,
            ),
            entry("select", None, KEYSPACE | FAST, vec![], Channels::None),
            entry("publish", None, PUBSUB | FAST, vec![], Channels::First),
            entry("auth", None, CONNECTION | FAST, vec![], Channels::None),
        ]))
    }

    fn args(words: &[&str]) -> Vec<Bytes> {
        words.iter().map(|w| Bytes::from(w.to_string())).collect()
    }

    fn user(acl: &Acl, rules: &[&str]) -> Arc<Rules> {
        let rules: Vec<String> = rules.iter().map(|r| r.to_string()).collect();
        acl.set_user("u", &rules).unwrap().0.rules()
    }

    fn check(acl: &Acl, rules: &Rules, words: &[&str]) -> Result<(), Denied> {
        let id = acl.catalog().lookup(words[0]).unwrap();
        acl.check(rules, id, &args(words))
    }

    #[test]
    fn the_per_command_verdicts_decide_as_the_whole_check_does() {
        let acl = Acl::new(catalog());
        let rule_sets: [&[&str]; 7] = [
            &["on", "~key:*", "+@all"],
            &["on", "~session:*", "-@all", "+get", "+set", "+select|0"],
            &["on", "%R~r:*", "%W~w:*", "+get", "+set"],
            &["on", "~exact", "~pre:*", "~g?ob", "+@all", "-config|set"],
            &["on", "allkeys", "&news.*", "+@all"],
            &["on", "resetchannels", "~*", "+publish", "+get"],
            &["on", "~session:*", "+get", "(~other:* +set)"],
        ];
        let requests: [&[&str]; 16] = [
            &["get", "key:1"],
            &["get", "key:12345678"],
            &["get", "other"],
            &["get", "session:abcdefgh"],
            &["get", "sessionX"],
            &["get", "r:1"],
            &["set", "w:1", "v"],
            &["set", "r:1", "v"],
            &["set", "r:1", "v", "GET"],
            &["set", "other:1", "v"],
            &["get", "exact"],
            &["get", "glob"],
            &["select", "0"],
            &["select", "1"],
            &["publish", "news.today", "m"],
            &["config", "set", "x", "y"],
        ];
        for rule_set in rule_sets {
            let rules = user(&acl, rule_set);
            for words in requests {
                let (words, id) = match acl.catalog().lookup(words[0]) {
                    Some(id) if acl.catalog().entry(id).full_name == "config" => {
                        (words, acl.catalog().lookup("config|set").unwrap())
                    }
                    Some(id) => (words, id),
                    None => continue,
                };
                assert_eq!(
                    acl.check(&rules, id, &args(words)),
                    rules.check_selectors(acl.catalog(), id, &args(words)),
                    "{rule_set:?} {words:?}"
                );
            }
            acl.delete_user(b"u");
        }
        let rules = user(&acl, &["on", "~key:*", "+get"]);
        assert_eq!(check(&acl, &rules, &["get", "key:1"]), Ok(()));
        assert_eq!(
            check(&acl, &rules, &["get", "kez:12345678"]),
            Err(Denied::Key(1))
        );
        assert_eq!(
            check(&acl, &rules, &["set", "key:1", "v"]),
            Err(Denied::Command)
        );
    }

    #[test]
    fn the_default_user_may_do_anything_and_has_no_password() {
        let acl = Acl::new(catalog());
        let rules = acl.default_user().rules();
        assert!(rules.unrestricted());
        assert!(!acl.requires_auth());
        assert_eq!(rules.describe(), "on nopass ~* &* +@all");
        acl.set_default_password(Some("pw"));
        assert!(acl.requires_auth());
        assert!(acl.authenticate(b"default", b"pw").is_some());
        assert!(acl.authenticate(b"default", b"other").is_none());
        assert!(acl.default_user().rules().unrestricted());
        acl.set_default_password(None);
        assert!(!acl.requires_auth());
    }

    #[test]
    fn passwords_are_sha256_hashes_checked_against_every_one() {
        let acl = Acl::new(catalog());
        let rules = user(&acl, &["on", ">one", ">two"]);
        assert_eq!(
            rules.passwords()[0],
            "7692c3ad3540bb803c020b3aee66cd8887123234ea0c6e7143c0add73ff431ed"
        );
        assert!(rules.accepts(b"one") && rules.accepts(b"two"));
        assert!(!rules.accepts(b"three") && !rules.accepts(b""));
        let rules = user(&acl, &["<one"]);
        assert!(!rules.accepts(b"one") && rules.accepts(b"two"));
        let rules = user(&acl, &["off"]);
        assert!(!rules.accepts(b"two"), "a user that is off cannot log in");
        let rules = user(&acl, &["on", "nopass"]);
        assert!(rules.accepts(b"anything") && rules.passwords().is_empty());
        let rules = user(&acl, &["resetpass"]);
        assert!(!rules.accepts(b"anything"));
    }

    #[test]
    fn bad_rules_get_redis_texts_and_change_nothing() {
        let acl = Acl::new(catalog());
        user(&acl, &["on", ">pw", "+get"]);
        for (rule, text) in [
            ("bogus", "Syntax error"),
            ("+nosuch", "Unknown command or category name in ACL"),
            ("+@nosuch", "Unknown command or category name in ACL"),
            ("#abc", "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters"),
            ("<nope", "The password you are trying to remove from the user does not exist"),
            ("+config|get|x", "Allowing first-arg of a subcommand is not supported"),
            ("-select|0", "Unknown command or category name in ACL"),
        ] {
            let err = acl
                .set_user("u", &["+set".into(), rule.into()])
                .unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("Error in ACL SETUSER modifier '{rule}': {text}")
            );
        }
        let err = acl.set_user("u", &["~*".into(), "~a".into()]).unwrap_err();
        assert!(err
            .to_string()
            .contains("after the * pattern (or the 'allkeys' flag)"));
        let err = acl
            .set_user("u", &["(~a".into(), "+get".into()])
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Unmatched parenthesis in acl selector starting at '(~a'."
        );
        // None of the failed calls applied their first rule.
        let rules = acl.user(b"u").unwrap().rules();
        assert_eq!(
            rules.describe(),
            format!("on #{} resetchannels -@all +get", hash_password(b"pw"))
        );
    }

    #[test]
    fn commands_categories_and_subcommands_use_the_bitmap() {
        let acl = Acl::new(catalog());
        let rules = user(
            &acl,
            &["on", "~*", "+@string", "-set", "+config|get", "+select|0"],
        );
        assert_eq!(check(&acl, &rules, &["get", "k"]), Ok(()));
        assert_eq!(
            check(&acl, &rules, &["set", "k", "v"]),
            Err(Denied::Command)
        );
        assert_eq!(check(&acl, &rules, &["config|get", "x"]), Ok(()));
        assert_eq!(
            check(&acl, &rules, &["config|set", "x", "y"]),
            Err(Denied::Command)
        );
        assert_eq!(check(&acl, &rules, &["select", "0"]), Ok(()));
        assert_eq!(check(&acl, &rules, &["select", "1"]), Err(Denied::Command));
        // AUTH is never refused.
        assert_eq!(check(&acl, &rules, &["auth", "x"]), Ok(()));
        // Redis 7.2 keeps the rules as given, a repeated one moved to the end.
        assert_eq!(
            rules.root().fields()[0].1,
            "-@all +@string -set +config|get +select|0"
        );
        let rules = user(&acl, &["+set"]);
        assert_eq!(
            rules.root().fields()[0].1,
            "-@all +@string +config|get +select|0 +set"
        );
        let rules = user(&acl, &["+config"]);
        assert_eq!(check(&acl, &rules, &["config|set", "x", "y"]), Ok(()));
        let rules = user(&acl, &["allcommands"]);
        assert_eq!(rules.root().fields()[0].1, "+@all");
        assert!(!rules.unrestricted(), "channels are still limited");
        let rules = user(&acl, &["allchannels"]);
        assert!(rules.unrestricted());
    }

    #[test]
    fn key_patterns_follow_read_and_write_access() {
        let acl = Acl::new(catalog());
        let rules = user(&acl, &["on", "+@all", "~app:*", "%R~ro:*", "%W~wo:*"]);
        assert_eq!(check(&acl, &rules, &["get", "app:1"]), Ok(()));
        assert_eq!(check(&acl, &rules, &["set", "app:1", "v"]), Ok(()));
        assert_eq!(check(&acl, &rules, &["get", "other"]), Err(Denied::Key(1)));
        assert_eq!(check(&acl, &rules, &["get", "ro:1"]), Ok(()));
        assert_eq!(
            check(&acl, &rules, &["set", "ro:1", "v"]),
            Err(Denied::Key(1))
        );
        assert_eq!(check(&acl, &rules, &["set", "wo:1", "v"]), Ok(()));
        assert_eq!(check(&acl, &rules, &["get", "wo:1"]), Err(Denied::Key(1)));
        assert_eq!(rules.root().fields()[1].1, "~app:* %R~ro:* %W~wo:*");
    }

    #[test]
    fn channels_and_selectors() {
        let acl = Acl::new(catalog());
        let rules = user(&acl, &["on", "+@all", "&news.*"]);
        assert_eq!(check(&acl, &rules, &["publish", "news.a", "m"]), Ok(()));
        assert_eq!(
            check(&acl, &rules, &["publish", "x", "m"]),
            Err(Denied::Channel(1))
        );
        // A second selector allows what the root does not; the furthest refusal wins.
        let acl = Acl::new(catalog());
        let rules = user(&acl, &["on", "~a*", "+get", "(~b* +set)"]);
        assert_eq!(check(&acl, &rules, &["get", "a1"]), Ok(()));
        assert_eq!(check(&acl, &rules, &["set", "b1", "v"]), Ok(()));
        assert_eq!(
            check(&acl, &rules, &["set", "a1", "v"]),
            Err(Denied::Key(1))
        );
        assert_eq!(check(&acl, &rules, &["select", "0"]), Err(Denied::Command));
        assert_eq!(
            rules.describe(),
            "on ~a* resetchannels -@all +get (~b* resetchannels -@all +set)"
        );
    }

    #[test]
    fn a_changed_password_or_off_is_a_change_of_credentials() {
        let acl = Acl::new(catalog());
        let set = |rules: &[&str]| {
            let rules: Vec<String> = rules.iter().map(|r| r.to_string()).collect();
            acl.set_user("u", &rules).unwrap().1
        };
        assert!(!set(&["on", ">a"]), "a new user has no connections");
        assert!(!set(&["+get", "~*"]));
        assert!(set(&[">b"]));
        assert!(set(&["off"]));
        assert!(!set(&["off"]));
        assert!(acl.delete_user(b"u").is_some());
        assert!(acl.delete_user(b"default").is_none());
    }

    #[test]
    fn a_login_sees_rule_changes_at_its_next_request() {
        let acl = Acl::new(catalog());
        let (user, _) = acl
            .set_user("u", &["on".into(), "+get".into(), "~*".into()])
            .unwrap();
        let mut login = Login::new(user);
        let id = acl.catalog().lookup("get").unwrap();
        assert!(acl.check(login.rules(), id, &args(&["get", "k"])).is_ok());
        acl.set_user("u", &["-get".into()]).unwrap();
        assert!(acl.check(login.rules(), id, &args(&["get", "k"])).is_err());
    }

    #[test]
    fn generated_passwords_have_the_bits_asked_for() {
        assert_eq!(generate_password(256).len(), 64);
        assert_eq!(generate_password(5).len(), 2);
        assert_eq!(generate_password(1).len(), 1);
        assert_ne!(generate_password(256), generate_password(256));
    }
}
