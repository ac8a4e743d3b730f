//! The wire format and nothing else: the request decoder and the reply encoder.
//! Knows no commands; `cmd` gives meaning to the arguments decoded here.

pub mod decode;
pub mod reply;

pub use decode::{Decoder, Limits, ProtocolError};
pub use reply::Reply;
