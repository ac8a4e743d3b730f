//! The wire format and nothing else: the request decoder and the reply encoder.
//! Knows no commands; `cmd` gives meaning to the arguments decoded here.

pub mod decode;
pub mod reply;

pub use decode::{Decoder, Limits, ProtocolError};
pub use reply::Reply;

/// Appends a request as clients send it, an array of bulk strings: what Roost sends when
/// it is the client (a replica's handshake, MIGRATE).
pub fn encode_request<A: AsRef<[u8]>>(out: &mut Vec<u8>, args: &[A]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for arg in args {
        let arg = arg.as_ref();
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}
