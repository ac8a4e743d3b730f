//! The command table, built once per process from every family's `COMMANDS`: name
//! lookup (case-insensitive, subcommands as `container|sub`) and arity checks. It holds
//! only the static declarations; each server counts calls per `CommandId` in its own
//! `Shared::command_stats`.

use std::collections::HashMap;
use std::sync::OnceLock;

use bytes::Bytes;

use super::{error, Spec};
use crate::config::{ConfigError, Rename};
use crate::protocol::Reply;
pub use crate::session::CommandId;
use crate::state::CommandNames;

struct Row {
    spec: &'static Spec,
    /// `get`, or `client|setname` for a subcommand.
    full_name: String,
    parent: Option<CommandId>,
}

/// Why a request names no command it can run.
#[derive(Debug)]
pub struct Unresolved {
    /// The command, when it exists but was called with the wrong number of arguments.
    pub id: Option<CommandId>,
    pub reply: Reply,
}

/// The process's command table.
pub fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(Table::new)
}

pub struct Table {
    rows: Vec<Row>,
    /// Lower-case full names (`client|list`); looked up for every request, so keyed by
    /// bytes and hashed with foldhash (the table never changes after startup, so no
    /// client can flood it).
    by_name: HashMap<Box<[u8]>, CommandId, foldhash::fast::RandomState>,
}

/// Every command family's declarations.
fn families() -> [&'static [Spec]; 30] {
    [
        super::string::COMMANDS,
        super::keys::COMMANDS,
        super::dump::COMMANDS,
        super::migrate::COMMANDS,
        super::hash::COMMANDS,
        super::set::COMMANDS,
        super::conn::COMMANDS,
        super::server::COMMANDS,
        super::txn::COMMANDS,
        super::config::COMMANDS,
        super::repl::COMMANDS,
        super::pubsub::COMMANDS,
        super::list::COMMANDS,
        super::zset::COMMANDS,
        super::zset_algebra::COMMANDS,
        super::stream::COMMANDS,
        super::stream_group::COMMANDS,
        super::bitmap::COMMANDS,
        super::hyperloglog::COMMANDS,
        super::sort::COMMANDS,
        super::geo::COMMANDS,
        super::scripting::COMMANDS,
        super::functions::COMMANDS,
        super::memory::COMMANDS,
        super::acl::COMMANDS,
        super::diagnose::COMMANDS,
        super::debug::COMMANDS,
        super::cluster::COMMANDS,
        super::module::COMMANDS,
        super::lolwut::COMMANDS,
    ]
}

impl Table {
    fn new() -> Table {
        let mut table = Table {
            rows: Vec::new(),
            by_name: HashMap::default(),
        };
        for spec in families().into_iter().flatten() {
            let parent = table.add(spec, spec.name.to_string(), None);
            for sub in spec.subcommands {
                table.add(sub, format!("{}|{}", spec.name, sub.name), Some(parent));
            }
        }
        table
    }

    fn add(
        &mut self,
        spec: &'static Spec,
        full_name: String,
        parent: Option<CommandId>,
    ) -> CommandId {
        let id = self.rows.len() as CommandId;
        let previous = self.by_name.insert(full_name.as_bytes().into(), id);
        assert!(previous.is_none(), "command {full_name} declared twice");
        self.rows.push(Row {
            spec,
            full_name,
            parent,
        });
        id
    }

    pub fn spec(&self, id: CommandId) -> &'static Spec {
        self.rows[id as usize].spec
    }

    pub fn full_name(&self, id: CommandId) -> &str {
        &self.rows[id as usize].full_name
    }

    pub fn parent(&self, id: CommandId) -> Option<CommandId> {
        self.rows[id as usize].parent
    }

    /// How many commands and subcommands there are.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Top-level commands (not subcommands), in declaration order.
    pub fn top_level(&self) -> impl Iterator<Item = CommandId> + '_ {
        (0..self.rows.len() as CommandId).filter(|&id| self.parent(id).is_none())
    }

    /// All commands and subcommands.
    pub fn all(&self) -> impl Iterator<Item = CommandId> + '_ {
        0..self.rows.len() as CommandId
    }

    /// Looks up a command or `container|sub` name, case-insensitively.
    pub fn lookup(&self, name: &[u8]) -> Option<CommandId> {
        // Lower-cased on the stack: this runs for every request.
        let mut buf = [0u8; 48];
        let lower = buf.get_mut(..name.len())?;
        lower.copy_from_slice(name);
        lower.make_ascii_lowercase();
        self.by_name.get(&*lower).copied()
    }

    /// Finds the command `args` names and checks its arity, with Redis's errors, by the
    /// table's own names (records from the log and a primary's stream).
    pub fn resolve(&self, args: &[Bytes]) -> Result<CommandId, Unresolved> {
        self.resolve_named(&CommandNames::default(), args)
    }

    /// As `resolve`, by the names a server's clients use (`rename-command`).
    pub fn resolve_named(
        &self,
        names: &CommandNames,
        args: &[Bytes],
    ) -> Result<CommandId, Unresolved> {
        let Some(id) = self.lookup_named(names, &args[0]) else {
            return Err(Unresolved {
                id: None,
                reply: error::unknown_command(args),
            });
        };
        let mut spec = self.spec(id);
        let mut id = id;
        if !spec.subcommands.is_empty() && args.len() >= 2 {
            let mut name = spec.name.as_bytes().to_vec();
            name.push(b'|');
            name.extend_from_slice(&args[1]);
            match self.lookup(&name) {
                Some(sub) => {
                    id = sub;
                    spec = self.spec(sub);
                }
                None => {
                    // Named as the client called the container, as Redis does.
                    let container = String::from_utf8_lossy(&args[0]);
                    return Err(Unresolved {
                        id: None,
                        reply: error::unknown_subcommand(&args[1], &container),
                    });
                }
            }
        }
        let argc = args.len() as i32;
        if (spec.arity > 0 && argc != spec.arity) || argc < -spec.arity {
            return Err(Unresolved {
                id: Some(id),
                reply: error::wrong_arity(self.full_name(id)),
            });
        }
        Ok(id)
    }

    /// Looks up a command or `container|sub` name as a server's clients call it: a
    /// renamed command by its new name only, a disabled one not at all.
    pub fn lookup_named(&self, names: &CommandNames, name: &[u8]) -> Option<CommandId> {
        if names.is_empty() {
            return self.lookup(name);
        }
        // Lower-cased on the stack when it fits: this runs for every request.
        let mut buf = [0u8; 64];
        let long;
        let lower = match buf.get_mut(..name.len()) {
            Some(lower) => {
                lower.copy_from_slice(name);
                lower.make_ascii_lowercase();
                std::str::from_utf8(lower).ok()?
            }
            None => {
                long = String::from_utf8_lossy(name).to_ascii_lowercase();
                long.as_str()
            }
        };
        let (container, sub) = match lower.split_once('|') {
            Some((container, sub)) => (container, Some(sub)),
            None => (lower, None),
        };
        let id = match names.get(container) {
            Some(reached) => reached?,
            None => self.lookup(container.as_bytes())?,
        };
        match sub {
            None => Some(id),
            Some(sub) => self.lookup(format!("{}|{sub}", self.spec(id).name).as_bytes()),
        }
    }

    /// The names a server's clients use, from its `rename-command` lines, applied in
    /// order as Redis applies them to its command dictionary: FROM must name a command
    /// (as named so far; a subcommand cannot be renamed, and makes Redis 7.0 crash), and
    /// a non-empty TO must not.
    pub fn command_names(&self, renames: &[Rename]) -> Result<CommandNames, ConfigError> {
        let mut overrides: HashMap<String, Option<CommandId>> = HashMap::new();
        let reach = |overrides: &HashMap<String, Option<CommandId>>, name: &str| match overrides
            .get(name)
        {
            Some(reached) => *reached,
            None if name.contains('|') => None,
            None => self.by_name.get(name.as_bytes()).copied(),
        };
        for rename in renames {
            let failed = |message: &str| ConfigError {
                directive: "rename-command".into(),
                message: message.into(),
                location: Some(rename.location.clone()),
            };
            let from = rename.from.to_ascii_lowercase();
            let to = rename.to.to_ascii_lowercase();
            let Some(id) = reach(&overrides, &from) else {
                return Err(failed("No such command in rename-command"));
            };
            overrides.insert(from, None);
            if !to.is_empty() {
                if reach(&overrides, &to).is_some() {
                    return Err(failed("Target command name already exists"));
                }
                overrides.insert(to, Some(id));
            }
        }
        let disabled = self
            .top_level()
            .filter(|&id| {
                let own_name = !overrides.contains_key(self.full_name(id));
                !own_name && !overrides.values().any(|&reached| reached == Some(id))
            })
            .collect();
        Ok(CommandNames::new(overrides, disabled))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_has_a_valid_declaration() {
        let table = Table::new();
        for id in table.all() {
            let spec = table.spec(id);
            assert_eq!(spec.name, spec.name.to_ascii_lowercase());
            assert!(spec.arity != 0, "{} has arity 0", spec.name);
            assert!(!spec.group.is_empty(), "{} has no group", spec.name);
            assert!(!spec.summary.is_empty(), "{} has no summary", spec.name);
            let k = spec.keys;
            assert!(
                k.first >= 0 && (k.first == 0) == (k.step == 0),
                "{} key spec",
                spec.name
            );
            assert_eq!(
                spec.has(super::super::flags::MOVABLE_KEYS),
                spec.find_keys.is_some(),
                "{}: movable keys need a way to find them",
                spec.name
            );
            assert!(
                spec.help.is_empty() || !spec.subcommands.is_empty(),
                "{}: only containers have HELP text",
                spec.name
            );
        }
    }
    fn renames(lines: &[(&str, &str)]) -> Vec<Rename> {
        lines
            .iter()
            .enumerate()
            .map(|(i, (from, to))| Rename {
                from: from.to_string(),
                to: to.to_string(),
                location: format!("r.conf:{}", i + 1),
                included: false,
            })
            .collect()
    }

    #[test]
    fn renamed_commands_answer_to_their_new_name_only() {
        let table = table();
        let names = table
            .command_names(&renames(&[
                ("FLUSHALL", ""),
                ("config", "MyConfig"),
                ("get", "fetch"),
            ]))
            .unwrap();
        let get = table.lookup(b"get").unwrap();
        let config = table.lookup(b"config").unwrap();
        let flushall = table.lookup(b"flushall").unwrap();
        assert_eq!(table.lookup_named(&names, b"FETCH"), Some(get));
        assert_eq!(table.lookup_named(&names, b"get"), None);
        assert_eq!(table.lookup_named(&names, b"flushall"), None);
        assert_eq!(table.lookup_named(&names, b"myconfig"), Some(config));
        assert_eq!(
            table.lookup_named(&names, b"myconfig|get"),
            table.lookup(b"config|get")
        );
        assert_eq!(table.lookup_named(&names, b"config|get"), None);
        assert_eq!(table.lookup_named(&names, b"set"), table.lookup(b"set"));
        assert!(!names.is_enabled(flushall));
        assert!(names.is_enabled(get) && names.is_enabled(config));
        // The table's own names still reach everything (the log, a primary's stream).
        assert_eq!(table.lookup(b"get"), Some(get));
    }

    #[test]
    fn renames_apply_in_order_as_redis_applies_them() {
        let table = table();
        let get = table.lookup(b"get").unwrap();
        let set = table.lookup(b"set").unwrap();
        // A name freed by one rename can be taken by the next; renames chain.
        let names = table
            .command_names(&renames(&[("get", "x"), ("set", "get"), ("x", "y")]))
            .unwrap();
        assert_eq!(table.lookup_named(&names, b"get"), Some(set));
        assert_eq!(table.lookup_named(&names, b"y"), Some(get));
        assert_eq!(table.lookup_named(&names, b"x"), None);
        assert_eq!(table.lookup_named(&names, b"set"), None);
        let same = table.command_names(&renames(&[("get", "get")])).unwrap();
        assert_eq!(table.lookup_named(&same, b"get"), Some(get));
        // Redis's texts (7.0.15), at the line's location. Redis 7.0 crashes on a
        // subcommand; Roost refuses it as no command.
        for (lines, line, message) in [
            (
                &[("nosuch", "foo")][..],
                1,
                "No such command in rename-command",
            ),
            (
                &[("get", "set")][..],
                1,
                "Target command name already exists",
            ),
            (
                &[("get", ""), ("get", "x")][..],
                2,
                "No such command in rename-command",
            ),
            (
                &[("config|get", "foo")][..],
                1,
                "No such command in rename-command",
            ),
        ] {
            let err = table.command_names(&renames(lines)).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("r.conf:{line}: 'rename-command': {message}")
            );
        }
    }

    #[test]
    fn commands_the_enable_directives_guard_are_parameters() {
        // DEBUG and MODULE exist, guarded by `enable-debug-command` and
        // `enable-module-command`, parameters their handlers check (`cmd::debug`,
        // `cmd::module`), so a value Roost does not know cannot slip past them.
        let table = table();
        assert!(table.lookup(b"debug").is_some());
        assert!(table.lookup(b"module|load").is_some());
        assert!(crate::config::Param::find("enable-debug-command").is_some());
        assert!(crate::config::Param::find("enable-module-command").is_some());
    }
}
