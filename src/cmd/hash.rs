//! hash commands.

use super::Spec;

pub const COMMANDS: &[Spec] = &[];
