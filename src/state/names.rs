//! How one server's clients name commands: the command table's names, as changed by the
//! configuration's `rename-command` lines. The command layer builds it (it knows the
//! table) and resolves names through it; this is only the data.

use std::collections::HashMap;

use crate::session::CommandId;

#[derive(Debug, Default, Clone)]
pub struct CommandNames {
    /// By lower-case name: what a name the renames touched reaches now (`None`: a name
    /// taken away). Names not here mean what the table says.
    overrides: HashMap<String, Option<CommandId>>,
    /// Top-level commands no name reaches (renamed to "").
    disabled: Vec<CommandId>,
}

impl CommandNames {
    pub fn new(overrides: HashMap<String, Option<CommandId>>, disabled: Vec<CommandId>) -> Self {
        CommandNames {
            overrides,
            disabled,
        }
    }

    /// Whether nothing is renamed (the usual case, checked first on every request).
    pub fn is_empty(&self) -> bool {
        self.overrides.is_empty()
    }

    /// What a lower-case `name` reaches if a rename changed it: `Some(None)` for a name
    /// taken away, `None` if the table decides.
    pub fn get(&self, name: &str) -> Option<Option<CommandId>> {
        self.overrides.get(name).copied()
    }

    /// Whether a top-level command is reachable under some name.
    pub fn is_enabled(&self, id: CommandId) -> bool {
        !self.disabled.contains(&id)
    }
}
