//! The command table, built once per process from every family's `COMMANDS`: name
//! lookup (case-insensitive, subcommands as `container|sub`) and arity checks. It holds
//! only the static declarations; each server counts calls per `CommandId` in its own
//! `Shared::command_stats`.

use std::collections::HashMap;
use std::sync::OnceLock;

use bytes::Bytes;

use super::{error, Spec};
use crate::protocol::Reply;
pub use crate::session::CommandId;

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
    by_name: HashMap<String, CommandId>,
}

/// Every command family's declarations.
fn families() -> [&'static [Spec]; 13] {
    [
        super::string::COMMANDS,
        super::keys::COMMANDS,
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
        super::scripting::COMMANDS,
    ]
}

impl Table {
    fn new() -> Table {
        let mut table = Table {
            rows: Vec::new(),
            by_name: HashMap::new(),
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
        let previous = self.by_name.insert(full_name.clone(), id);
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
        self.by_name.get(std::str::from_utf8(lower).ok()?).copied()
    }

    /// Finds the command `args` names and checks its arity, with Redis's errors.
    pub fn resolve(&self, args: &[Bytes]) -> Result<CommandId, Unresolved> {
        let Some(id) = self.lookup(&args[0]) else {
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
                    return Err(Unresolved {
                        id: None,
                        reply: error::unknown_subcommand(&args[1], spec.name),
                    })
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
}
