//! A user's rules as Redis 7 keeps them: flags, password hashes, a root selector and
//! further selectors, each with a precomputed command bitmap, key patterns with their
//! read/write permissions and channel patterns. Rules are applied one at a time
//! (`Rules::apply`), with Redis's error for each kind of bad rule, and described back as
//! ACL LIST and ACL GETUSER show them.

use std::collections::HashMap;

use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::catalog::{access_of, category, Catalog, KeyShape, KEY_READ, KEY_WRITE};

/// Why a rule was refused: Redis's texts (`ERR Error in ACL SETUSER modifier '<rule>':
/// <text>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleError {
    Syntax,
    UnknownCommand,
    KeyAfterAll,
    ChannelAfterAll,
    NoSuchPassword,
    BadHash,
    FirstArgOfSubcommand,
}

impl RuleError {
    pub fn text(self) -> &'static str {
        match self {
            RuleError::Syntax => "Syntax error",
            RuleError::UnknownCommand => "Unknown command or category name in ACL",
            RuleError::KeyAfterAll => {
                "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and \
                 does not have any effect. Try 'resetkeys' to start with an empty list of \
                 patterns"
            }
            RuleError::ChannelAfterAll => {
                "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid \
                 and does not have any effect. Try 'resetchannels' to start with an empty list \
                 of channels"
            }
            RuleError::NoSuchPassword => {
                "The password you are trying to remove from the user does not exist"
            }
            RuleError::BadHash => {
                "The password hash must be exactly 64 characters and contain only lowercase \
                 hexadecimal characters"
            }
            RuleError::FirstArgOfSubcommand => {
                "Allowing first-arg of a subcommand is not supported"
            }
        }
    }
}

/// A key pattern with the access it grants (`~p` both, `%R~p` read, `%W~p` write).
#[derive(Debug, Clone, PartialEq, Eq)]
struct KeyPattern {
    pattern: Bytes,
    matcher: crate::glob::Compiled,
    access: u8,
}

impl KeyPattern {
    #[inline(always)]
    fn allows(&self, key: &[u8], access: u8) -> bool {
        self.access & access == access && self.matcher.matches(key)
    }
}

/// Why a selector refused a request; ordered as Redis ranks them when several selectors
/// refuse (the furthest-reaching refusal is reported).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Denied {
    Command,
    /// The position of the refused key.
    Key(usize),
    /// The position of the refused channel.
    Channel(usize),
}

impl Denied {
    fn rank(self) -> (u8, usize) {
        match self {
            Denied::Command => (1, 0),
            Denied::Key(pos) => (2, pos),
            Denied::Channel(pos) => (4, pos),
        }
    }
}

/// One set of permissions: commands, keys, channels. A request is allowed when one of a
/// user's selectors allows all three.
#[derive(Debug, Clone)]
pub struct Selector {
    /// Bit `id` allows command-table entry `id`.
    commands: Vec<u64>,
    /// Set by `+@all`/`allcommands` and cleared by `-@all`/`nocommands`: commands added
    /// to the table later are allowed too (what ACL LIST's leading `+@all` says).
    all_future: bool,
    /// `+select|0`: first arguments allowed for a command that is not allowed whole.
    first_args: HashMap<u16, Vec<String>>,
    /// The command rules as given, minus those a later rule repeats (Redis 7.2's form).
    command_rules: Vec<String>,
    all_keys: bool,
    keys: Vec<KeyPattern>,
    all_channels: bool,
    channels: Vec<Bytes>,
}

impl Selector {
    fn new(catalog: &Catalog, all_channels: bool) -> Selector {
        Selector {
            commands: vec![0; catalog.len().div_ceil(64)],
            all_future: false,
            first_args: HashMap::new(),
            command_rules: Vec::new(),
            all_keys: false,
            keys: Vec::new(),
            all_channels,
            channels: Vec::new(),
        }
    }

    fn allows_command(&self, id: u16) -> bool {
        self.commands[id as usize / 64] & (1 << (id % 64)) != 0
    }

    fn set_command(&mut self, catalog: &Catalog, id: u16, allow: bool) {
        let (word, bit) = (id as usize / 64, 1u64 << (id % 64));
        if allow {
            self.commands[word] |= bit;
        } else {
            self.commands[word] &= !bit;
        }
        self.first_args.remove(&id);
        for &child in catalog.children(id) {
            self.set_command(catalog, child, allow);
        }
    }

    fn set_all_commands(&mut self, allow: bool) {
        let fill = if allow { u64::MAX } else { 0 };
        self.commands.iter_mut().for_each(|w| *w = fill);
        self.all_future = allow;
        self.first_args.clear();
        self.command_rules.clear();
    }

    /// Redis's `ACLUpdateCommandRules`: the rule replaces an earlier one naming the same
    /// command or category.
    fn record_rule(&mut self, rule: &str, allow: bool) {
        let rule = rule.to_ascii_lowercase();
        self.command_rules.retain(|r| r[1..] != rule);
        self.command_rules
            .push(format!("{}{rule}", if allow { '+' } else { '-' }));
    }

    /// Everything allowed, as for the default user: dispatch skips the checks.
    fn is_unrestricted(&self) -> bool {
        self.all_future
            && self.commands.iter().all(|&w| w == u64::MAX)
            && self.all_keys
            && self.all_channels
    }

    /// Applies one selector rule (commands, keys, channels).
    fn apply(&mut self, catalog: &Catalog, rule: &str, pubsub_all: bool) -> Result<(), RuleError> {
        let lower = rule.to_ascii_lowercase();
        match lower.as_str() {
            "allkeys" | "~*" => {
                self.all_keys = true;
                self.keys.clear();
            }
            "resetkeys" => {
                self.all_keys = false;
                self.keys.clear();
            }
            "allchannels" | "&*" => {
                self.all_channels = true;
                self.channels.clear();
            }
            "resetchannels" => {
                self.all_channels = false;
                self.channels.clear();
            }
            "allcommands" | "+@all" => self.set_all_commands(true),
            "nocommands" | "-@all" => self.set_all_commands(false),
            "reset" => {
                // Within a selector (the root's share of the user's `reset`).
                self.all_keys = false;
                self.keys.clear();
                self.all_channels = pubsub_all;
                self.channels.clear();
                self.set_all_commands(false);
            }
            _ => return self.apply_pattern_or_command(catalog, rule),
        }
        Ok(())
    }

    fn apply_pattern_or_command(&mut self, catalog: &Catalog, rule: &str) -> Result<(), RuleError> {
        let bytes = rule.as_bytes();
        match bytes.first() {
            Some(b'~') => self.add_key_pattern(&bytes[1..], KEY_READ | KEY_WRITE),
            Some(b'%') => {
                let tilde = rule.find('~').ok_or(RuleError::Syntax)?;
                let mut access = 0;
                for c in rule[1..tilde].chars() {
                    match c.to_ascii_uppercase() {
                        'R' => access |= KEY_READ,
                        'W' => access |= KEY_WRITE,
                        _ => return Err(RuleError::Syntax),
                    }
                }
                if access == 0 {
                    return Err(RuleError::Syntax);
                }
                self.add_key_pattern(&bytes[tilde + 1..], access)
            }
            Some(b'&') => {
                if self.all_channels {
                    return Err(RuleError::ChannelAfterAll);
                }
                let pattern = Bytes::copy_from_slice(&bytes[1..]);
                if !self.channels.contains(&pattern) {
                    self.channels.push(pattern);
                }
                Ok(())
            }
            Some(&sign @ (b'+' | b'-')) => {
                let allow = sign == b'+';
                if let Some(name) = rule[1..].strip_prefix('@') {
                    let mask = category::by_name(name).ok_or(RuleError::UnknownCommand)?;
                    for id in 0..catalog.len() as u16 {
                        if catalog.entry(id).categories & mask != 0 {
                            self.set_command(catalog, id, allow);
                        }
                    }
                    self.record_rule(&rule[1..], allow);
                    return Ok(());
                }
                self.apply_command(catalog, &rule[1..], allow)
            }
            _ => Err(RuleError::Syntax),
        }
    }

    fn add_key_pattern(&mut self, pattern: &[u8], access: u8) -> Result<(), RuleError> {
        if self.all_keys {
            return Err(RuleError::KeyAfterAll);
        }
        if pattern == b"*" && access == KEY_READ | KEY_WRITE {
            self.all_keys = true;
            self.keys.clear();
            return Ok(());
        }
        let pattern = Bytes::copy_from_slice(pattern);
        match self.keys.iter_mut().find(|k| k.pattern == pattern) {
            Some(existing) => existing.access |= access,
            None => self.keys.push(KeyPattern {
                matcher: crate::glob::Compiled::new(&pattern),
                pattern,
                access,
            }),
        }
        Ok(())
    }

    /// `+cmd`, `-cmd`, `+container|sub`, `-container|sub`, `+cmd|firstarg`.
    fn apply_command(
        &mut self,
        catalog: &Catalog,
        name: &str,
        allow: bool,
    ) -> Result<(), RuleError> {
        let Some((command, arg)) = name.split_once('|') else {
            let id = catalog.lookup(name).ok_or(RuleError::UnknownCommand)?;
            self.set_command(catalog, id, allow);
            self.record_rule(&catalog.entry(id).full_name.clone(), allow);
            return Ok(());
        };
        let parent = catalog.lookup(command).ok_or(RuleError::UnknownCommand)?;
        if catalog.entry(parent).parent.is_some() {
            return Err(RuleError::UnknownCommand);
        }
        if !catalog.children(parent).is_empty() {
            if arg.contains('|') {
                return Err(RuleError::FirstArgOfSubcommand);
            }
            let id = catalog.lookup(name).ok_or(RuleError::UnknownCommand)?;
            self.set_command(catalog, id, allow);
            self.record_rule(&catalog.entry(id).full_name.clone(), allow);
            return Ok(());
        }
        // A first argument of a command without subcommands: only allowing is supported.
        if !allow || arg.is_empty() || arg.contains('|') {
            return Err(RuleError::UnknownCommand);
        }
        let arg = arg.to_ascii_lowercase();
        let args = self.first_args.entry(parent).or_default();
        if !args.contains(&arg) {
            args.push(arg);
        }
        self.record_rule(name, true);
        Ok(())
    }

    /// What `check` would need to look at for command `id` (see `Verdict`).
    fn verdict(&self, catalog: &Catalog, id: u16) -> Verdict {
        let plan = catalog.plan(id);
        if !plan.exempt && !self.allows_command(id) {
            return match self.first_args.contains_key(&id) {
                true => Verdict::of(VerdictKind::Full),
                false => Verdict::of(VerdictKind::DenyCommand),
            };
        }
        if !self.all_channels && plan.has_channels {
            return Verdict::of(VerdictKind::Full);
        }
        if self.all_keys {
            return Verdict::of(VerdictKind::Allow);
        }
        match plan.keys {
            KeyShape::None => Verdict::of(VerdictKind::Allow),
            KeyShape::One {
                pos,
                access,
                read_only_with_get,
            } => match u8::try_from(pos) {
                Ok(key_pos) => Verdict {
                    kind: VerdictKind::OneKey,
                    key_pos,
                    key_access: access,
                    read_only_with_get,
                },
                Err(_) => Verdict::of(VerdictKind::Full),
            },
            KeyShape::General => Verdict::of(VerdictKind::Full),
        }
    }

    #[inline(always)]
    fn check(&self, catalog: &Catalog, id: u16, args: &[Bytes]) -> Result<(), Denied> {
        let plan = catalog.plan(id);
        if !plan.exempt && !self.allows_command(id) && !self.allows_first_arg(id, args) {
            return Err(Denied::Command);
        }
        if !self.all_keys {
            match plan.keys {
                KeyShape::None => {}
                KeyShape::One {
                    pos,
                    access,
                    read_only_with_get,
                } => {
                    if pos < args.len() {
                        let access = access_of(access, read_only_with_get, pos, args);
                        if !self.allows_key(&args[pos], access) {
                            return Err(Denied::Key(pos));
                        }
                    }
                }
                KeyShape::General => catalog.try_each_key(id, args, |pos, access| {
                    match self.allows_key(&args[pos], access) {
                        true => Ok(()),
                        false => Err(Denied::Key(pos)),
                    }
                })?,
            }
        }
        if !self.all_channels && plan.has_channels {
            for (pos, pattern) in catalog.channels_of(id, args) {
                if !self.allows_channel(&args[pos], pattern) {
                    return Err(Denied::Channel(pos));
                }
            }
        }
        Ok(())
    }

    /// `+select|0`: a command not allowed whole may be allowed with this first argument.
    fn allows_first_arg(&self, id: u16, args: &[Bytes]) -> bool {
        args.len() > 1
            && self.first_args.get(&id).is_some_and(|allowed| {
                allowed
                    .iter()
                    .any(|a| a.as_bytes().eq_ignore_ascii_case(&args[1]))
            })
    }

    #[inline(always)]
    pub fn allows_key(&self, key: &[u8], access: u8) -> bool {
        self.all_keys || self.patterns_allow_key(key, access)
    }

    /// Whether one of the key patterns (not `allkeys`) allows `key`.
    #[inline(always)]
    fn patterns_allow_key(&self, key: &[u8], access: u8) -> bool {
        match &self.keys[..] {
            [only] => only.allows(key, access),
            patterns => patterns.iter().any(|pattern| pattern.allows(key, access)),
        }
    }

    /// A channel (or, for PSUBSCRIBE, a pattern, which must be allowed literally).
    pub fn allows_channel(&self, channel: &[u8], is_pattern: bool) -> bool {
        self.all_channels
            || self.channels.iter().any(|allowed| {
                if is_pattern {
                    allowed.as_ref() == channel
                } else {
                    crate::glob::matches(allowed, channel, false)
                }
            })
    }

    fn describe_keys(&self) -> String {
        if self.all_keys {
            return "~*".into();
        }
        let words: Vec<String> = self
            .keys
            .iter()
            .map(|k| {
                let prefix = match k.access {
                    KEY_READ => "%R~",
                    KEY_WRITE => "%W~",
                    _ => "~",
                };
                format!("{prefix}{}", String::from_utf8_lossy(&k.pattern))
            })
            .collect();
        words.join(" ")
    }

    fn describe_channels(&self) -> String {
        if self.all_channels {
            return "&*".into();
        }
        let words: Vec<String> = self
            .channels
            .iter()
            .map(|c| format!("&{}", String::from_utf8_lossy(c)))
            .collect();
        words.join(" ")
    }

    fn describe_commands(&self) -> String {
        let mut text = String::from(if self.all_future { "+@all" } else { "-@all" });
        for rule in &self.command_rules {
            text.push(' ');
            text.push_str(rule);
        }
        text
    }

    /// As ACL LIST shows a selector: keys, channels (`resetchannels` first unless all
    /// are allowed), commands.
    fn describe(&self) -> String {
        let mut words = Vec::new();
        let keys = self.describe_keys();
        if !keys.is_empty() {
            words.push(keys);
        }
        if self.all_channels {
            words.push("&*".into());
        } else {
            words.push("resetchannels".into());
            let channels = self.describe_channels();
            if !channels.is_empty() {
                words.push(channels);
            }
        }
        words.push(self.describe_commands());
        words.join(" ")
    }

    /// ACL GETUSER's `commands`, `keys`, `channels`.
    pub fn fields(&self) -> [(&'static str, String); 3] {
        [
            ("commands", self.describe_commands()),
            ("keys", self.describe_keys()),
            ("channels", self.describe_channels()),
        ]
    }
}

/// The lowercase hex SHA-256 of a password, as Redis stores and shows it.
pub fn hash_password(password: &[u8]) -> String {
    Sha256::digest(password)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Compares two equal-length strings in a time that does not depend on where they
/// differ.
fn same_in_constant_time(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(difference) == 0
}

fn is_valid_hash(hash: &str) -> bool {
    hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Everything a user is and may do.
#[derive(Debug, Clone)]
pub struct Rules {
    pub enabled: bool,
    pub nopass: bool,
    /// `sanitize-payload` (Some(true)) or `skip-sanitize-payload` (Some(false)): RESTORE's
    /// payload checks. Roost has no RESTORE, so the flag is only kept and shown, as
    /// Redis shows it (`reset` sets `sanitize-payload`).
    pub sanitize_payload: Option<bool>,
    /// SHA-256 hashes, lowercase hex, in the order added.
    passwords: Vec<String>,
    root: Selector,
    selectors: Vec<Selector>,
    unrestricted: bool,
    /// For a user with no selectors beyond the root, what each command needs checked
    /// (by command id), worked out whenever the rules change: a request then costs one
    /// load and, for a one-key command, one key match. Empty otherwise.
    verdicts: Box<[Verdict]>,
}

/// What the root selector needs checked for one command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Verdict {
    kind: VerdictKind,
    /// For `OneKey`: where the key is and the access it needs (see `KeyShape::One`).
    key_pos: u8,
    key_access: u8,
    read_only_with_get: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VerdictKind {
    /// The command is allowed; its one key (when the request has it) must match.
    OneKey,
    Allow,
    DenyCommand,
    /// The selector's whole check (first-argument rules, channels, several keys).
    Full,
}

impl Verdict {
    fn of(kind: VerdictKind) -> Verdict {
        Verdict {
            kind,
            key_pos: 0,
            key_access: 0,
            read_only_with_get: false,
        }
    }
}

impl Rules {
    /// A new user's rules: off, no password, no commands, no keys, channels as
    /// `acl-pubsub-default` says.
    pub fn new(catalog: &Catalog, pubsub_all: bool) -> Rules {
        let mut rules = Rules {
            enabled: false,
            nopass: false,
            sanitize_payload: None,
            passwords: Vec::new(),
            root: Selector::new(catalog, pubsub_all),
            selectors: Vec::new(),
            unrestricted: false,
            verdicts: Box::new([]),
        };
        rules.refresh_verdicts(catalog);
        rules
    }

    fn refresh_verdicts(&mut self, catalog: &Catalog) {
        let verdicts: Box<[Verdict]> = if self.unrestricted || !self.selectors.is_empty() {
            Box::new([])
        } else {
            (0..catalog.len() as u16)
                .map(|id| self.root.verdict(catalog, id))
                .collect()
        };
        self.verdicts = verdicts;
    }

    /// Rules that allow nothing (a deleted user's, for connections not yet closed).
    pub fn nothing(catalog: &Catalog) -> Rules {
        Rules::new(catalog, false)
    }

    /// True when every command, key and channel is allowed: dispatch checks nothing.
    pub fn unrestricted(&self) -> bool {
        self.unrestricted
    }

    /// Applies one rule (a selector in parentheses included); on error nothing the rule
    /// would have changed is changed.
    pub fn apply(
        &mut self,
        catalog: &Catalog,
        rule: &str,
        pubsub_all: bool,
    ) -> Result<(), RuleError> {
        let result = self.apply_rule(catalog, rule, pubsub_all);
        self.unrestricted = self.selectors.is_empty() && self.root.is_unrestricted();
        self.refresh_verdicts(catalog);
        result
    }

    fn apply_rule(
        &mut self,
        catalog: &Catalog,
        rule: &str,
        pubsub_all: bool,
    ) -> Result<(), RuleError> {
        if let Some(inner) = rule.strip_prefix('(') {
            let inner = inner.strip_suffix(')').ok_or(RuleError::Syntax)?;
            let mut selector = Selector::new(catalog, pubsub_all);
            for word in inner.split(' ').filter(|w| !w.is_empty()) {
                selector.apply(catalog, word, pubsub_all)?;
            }
            self.selectors.push(selector);
            return Ok(());
        }
        match rule.to_ascii_lowercase().as_str() {
            "on" => self.enabled = true,
            "off" => self.enabled = false,
            "nopass" => {
                self.nopass = true;
                self.passwords.clear();
            }
            "resetpass" => {
                self.nopass = false;
                self.passwords.clear();
            }
            "clearselectors" => self.selectors.clear(),
            "sanitize-payload" => self.sanitize_payload = Some(true),
            "skip-sanitize-payload" => self.sanitize_payload = Some(false),
            "reset" => {
                self.nopass = false;
                self.passwords.clear();
                self.enabled = false;
                self.sanitize_payload = Some(true);
                self.selectors.clear();
                self.root.apply(catalog, "reset", pubsub_all)?;
            }
            _ => match rule.as_bytes().first() {
                Some(b'>') => {
                    let hash = hash_password(&rule.as_bytes()[1..]);
                    if !self.passwords.contains(&hash) {
                        self.passwords.push(hash);
                    }
                    self.nopass = false;
                }
                Some(b'#') => {
                    let hash = &rule[1..];
                    if !is_valid_hash(hash) {
                        return Err(RuleError::BadHash);
                    }
                    if !self.passwords.iter().any(|p| p == hash) {
                        self.passwords.push(hash.to_string());
                    }
                    self.nopass = false;
                }
                Some(b'<') => {
                    let hash = hash_password(&rule.as_bytes()[1..]);
                    self.remove_password(&hash)?;
                }
                Some(b'!') => {
                    let hash = &rule[1..];
                    if !is_valid_hash(hash) {
                        return Err(RuleError::BadHash);
                    }
                    self.remove_password(hash)?;
                }
                _ => {
                    // A failed rule leaves the selector as it was.
                    let mut root = self.root.clone();
                    root.apply(catalog, rule, pubsub_all)?;
                    self.root = root;
                }
            },
        }
        Ok(())
    }

    fn remove_password(&mut self, hash: &str) -> Result<(), RuleError> {
        let before = self.passwords.len();
        self.passwords.retain(|p| p != hash);
        if self.passwords.len() == before {
            return Err(RuleError::NoSuchPassword);
        }
        Ok(())
    }

    /// Whether `password` opens this user: enabled, and `nopass` or one of its hashes,
    /// each compared in constant time.
    pub fn accepts(&self, password: &[u8]) -> bool {
        if !self.enabled {
            return false;
        }
        if self.nopass {
            return true;
        }
        let given = hash_password(password);
        let mut found = false;
        for hash in &self.passwords {
            found |= same_in_constant_time(hash.as_bytes(), given.as_bytes());
        }
        found
    }

    /// Whether what a client with these rules may log in with changed: enabled,
    /// nopass, passwords.
    pub fn same_credentials(&self, other: &Rules) -> bool {
        self.enabled == other.enabled
            && self.nopass == other.nopass
            && self.passwords == other.passwords
    }

    /// Checks a request against the root selector then each other selector; when all
    /// refuse, Redis's choice of refusal.
    #[inline(always)]
    pub fn check(&self, catalog: &Catalog, id: u16, args: &[Bytes]) -> Result<(), Denied> {
        if self.unrestricted {
            return Ok(());
        }
        if let Some(&verdict) = self.verdicts.get(id as usize) {
            // Tested in order of frequency for a restricted user.
            if verdict.kind == VerdictKind::OneKey {
                let pos = verdict.key_pos as usize;
                if let Some(key) = args.get(pos) {
                    let access =
                        access_of(verdict.key_access, verdict.read_only_with_get, pos, args);
                    if !self.root.patterns_allow_key(key, access) {
                        return Err(Denied::Key(pos));
                    }
                }
                return Ok(());
            }
            return match verdict.kind {
                VerdictKind::Allow => Ok(()),
                VerdictKind::DenyCommand => Err(Denied::Command),
                _ => self.check_selectors(catalog, id, args),
            };
        }
        self.check_selectors(catalog, id, args)
    }

    /// The whole check: the root selector, then each further selector.
    #[inline(never)]
    pub(super) fn check_selectors(
        &self,
        catalog: &Catalog,
        id: u16,
        args: &[Bytes],
    ) -> Result<(), Denied> {
        let mut worst = match self.root.check(catalog, id, args) {
            Ok(()) => return Ok(()),
            Err(denied) => denied,
        };
        for selector in &self.selectors {
            match selector.check(catalog, id, args) {
                Ok(()) => return Ok(()),
                Err(denied) if denied.rank() > worst.rank() => worst = denied,
                Err(_) => {}
            }
        }
        Err(worst)
    }

    /// Whether any selector allows `channel` (a subscriber's channels after a change).
    pub fn allows_channel(&self, channel: &[u8], is_pattern: bool) -> bool {
        self.root.allows_channel(channel, is_pattern)
            || self
                .selectors
                .iter()
                .any(|s| s.allows_channel(channel, is_pattern))
    }

    pub fn flags(&self) -> Vec<&'static str> {
        let mut flags = vec![if self.enabled { "on" } else { "off" }];
        if self.nopass {
            flags.push("nopass");
        }
        match self.sanitize_payload {
            Some(false) => flags.push("skip-sanitize-payload"),
            Some(true) => flags.push("sanitize-payload"),
            None => {}
        }
        flags
    }

    pub fn passwords(&self) -> &[String] {
        &self.passwords
    }

    pub fn root(&self) -> &Selector {
        &self.root
    }

    pub fn selectors(&self) -> &[Selector] {
        &self.selectors
    }

    /// The rules after `user <name>` in ACL LIST and an ACL file.
    pub fn describe(&self) -> String {
        let mut words: Vec<String> = self.flags().into_iter().map(String::from).collect();
        words.extend(self.passwords.iter().map(|p| format!("#{p}")));
        words.push(self.root.describe());
        words.extend(self.selectors.iter().map(|s| format!("({})", s.describe())));
        words.join(" ")
    }
}

/// Joins the words of a rule list so that a selector split at spaces (`(~a`, `+get)`)
/// becomes one rule, as Redis does for ACL SETUSER and `user` lines; Redis's error for
/// an unclosed one.
pub fn merge_selectors(words: &[String]) -> Result<Vec<String>, String> {
    let mut merged = Vec::new();
    let mut open: Option<String> = None;
    let mut opened_by = String::new();
    for word in words {
        match &mut open {
            Some(selector) => {
                selector.push(' ');
                selector.push_str(word);
                if word.ends_with(')') {
                    merged.push(open.take().unwrap_or_default());
                }
            }
            None if word.starts_with('(') && !word.ends_with(')') => {
                opened_by = word.clone();
                open = Some(word.clone());
            }
            None => merged.push(word.clone()),
        }
    }
    if open.is_some() {
        return Err(format!(
            "Unmatched parenthesis in acl selector starting at '{opened_by}'."
        ));
    }
    Ok(merged)
}
