// Properties of the request decoder, shared by the fuzz target and by
// tests/decoder_properties.rs (which includes this file).
//
// For any input and any way of splitting it into reads:
// 1. decoding never panics;
// 2. decoding in pieces yields the same requests (and the same error) as all at once;
// 3. where the input is a RESP2 array of bulk strings, the independent `redis-protocol`
//    decoder sees the same arguments.

use bytes::BytesMut;
use roost::protocol::{Decoder, Limits, ProtocolError};

fn decode_in_pieces(data: &[u8], cuts: &[usize]) -> (Vec<Vec<bytes::Bytes>>, Option<ProtocolError>) {
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::new();
    let mut requests = Vec::new();
    let mut start = 0;
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
    points.sort_unstable();
    points.push(data.len());
    for end in points {
        if end < start {
            continue;
        }
        buf.extend_from_slice(&data[start..end]);
        start = end;
        loop {
            match decoder.decode(&mut buf, Limits::default()) {
                Ok(Some(request)) => requests.push(request),
                Ok(None) => break,
                Err(e) => return (requests, Some(e)),
            }
        }
    }
    (requests, None)
}

pub fn check_decoder(data: &[u8]) {
    let whole = decode_in_pieces(data, &[]);
    let cuts: Vec<usize> = data.iter().take(8).map(|&b| b as usize * 7).collect();
    let pieces = decode_in_pieces(data, &cuts);
    assert_eq!(whole.0, pieces.0, "requests differ when split");
    assert_eq!(whole.1, pieces.1, "errors differ when split");
    let byte_at_a_time: Vec<usize> = (0..data.len().min(256)).collect();
    let slow = decode_in_pieces(data, &byte_at_a_time);
    assert_eq!(whole.0, slow.0, "requests differ byte at a time");

    if data.first() == Some(&b'*') && whole.1.is_none() {
        if let Ok(Some((redis_protocol::resp2::types::OwnedFrame::Array(items), _))) =
            redis_protocol::resp2::decode::decode(data)
        {
            let theirs: Option<Vec<Vec<u8>>> = items
                .into_iter()
                .map(|f| match f {
                    redis_protocol::resp2::types::OwnedFrame::BulkString(b) => Some(b),
                    _ => None,
                })
                .collect();
            if let (Some(theirs), Some(ours)) = (theirs, whole.0.first()) {
                if !theirs.is_empty() {
                    let ours: Vec<Vec<u8>> = ours.iter().map(|b| b.to_vec()).collect();
                    assert_eq!(ours, theirs, "redis-protocol decodes different arguments");
                }
            }
        }
    }
}
