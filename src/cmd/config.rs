//! CONFIG GET / SET / RESETSTAT / REWRITE.

use super::Spec;

pub const COMMANDS: &[Spec] = &[];
