//! The command table built at startup from every family's `COMMANDS`: name lookup
//! (case-insensitive, subcommands as `container|sub`), and per-command statistics.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use super::{error, Spec};
use crate::protocol::Reply;

/// Index of a command (or subcommand) in the table.
pub type CommandId = u16;

/// Counters for `INFO commandstats`.
#[derive(Default)]
pub struct CommandStats {
    pub calls: AtomicU64,
    pub usec: AtomicU64,
    pub rejected_calls: AtomicU64,
    pub failed_calls: AtomicU64,
}

impl CommandStats {
    pub fn reset(&self) {
        for c in [
            &self.calls,
            &self.usec,
            &self.rejected_calls,
            &self.failed_calls,
        ] {
            c.store(0, Ordering::Relaxed);
        }
    }
}

struct Row {
    spec: &'static Spec,
    /// `get`, or `client|setname` for a subcommand.
    full_name: String,
    parent: Option<CommandId>,
    stats: CommandStats,
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

impl Default for Table {
    fn default() -> Self {
        Self::new()
    }
}

impl Table {
    pub fn new() -> Table {
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
            stats: CommandStats::default(),
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

    pub fn stats(&self, id: CommandId) -> &CommandStats {
        &self.rows[id as usize].stats
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
    pub fn resolve(&self, args: &[Bytes]) -> Result<CommandId, Reply> {
        let Some(id) = self.lookup(&args[0]) else {
            return Err(unknown_command(args));
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
                None => return Err(error::unknown_subcommand(&args[1], spec.name)),
            }
        }
        let argc = args.len() as i32;
        if (spec.arity > 0 && argc != spec.arity) || argc < -spec.arity {
            self.stats(id)
                .rejected_calls
                .fetch_add(1, Ordering::Relaxed);
            return Err(error::wrong_arity(self.full_name(id)));
        }
        Ok(id)
    }
}

/// `ERR unknown command 'foo', with args beginning with: 'a' 'b' `
fn unknown_command(args: &[Bytes]) -> Reply {
    let mut listed = String::new();
    for arg in &args[1..] {
        if listed.len() >= 128 {
            break;
        }
        let room = 128 - listed.len();
        listed.push('\'');
        listed.push_str(&error::truncate_lossy(arg, room));
        listed.push_str("' ");
    }
    Reply::error(format!(
        "ERR unknown command '{}', with args beginning with: {}",
        error::truncate_lossy(&args[0], 128),
        listed
    ))
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
        }
    }
}
