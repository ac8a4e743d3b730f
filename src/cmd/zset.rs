//! Sorted-set commands.

use super::Spec;

pub const COMMANDS: &[Spec] = &[];
