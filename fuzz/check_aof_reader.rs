// Properties of the log reader, shared by the fuzz target and by
// tests/aof_reader_properties.rs (which includes this file): for any bytes, reading
// never panics, stops at or before the end, and every record it returns re-encodes to
// exactly the bytes it was read from. The replication stream parser (`parse_stream`,
// what a replica runs on bytes from the network) agrees with the reader record for
// record and never panics either. Reading a file's header (`aof::header::read`) never
// panics and never puts the records past the end.

use roost::aof::header;
use roost::aof::record::{encode, parse_stream, Reader};

pub fn check_aof_reader(data: &[u8]) {
    for first_lsn in [None, Some(1)] {
        let mut reader = Reader::new(data, first_lsn);
        let mut previous_end = 0;
        while let Ok(Some(record)) = reader.next_record() {
            assert_eq!(record.offset, previous_end);
            let args: Vec<&[u8]> = record.args.iter().map(|a| a.as_ref()).collect();
            let mut again = Vec::new();
            encode(record.lsn, &args, &mut again);
            assert_eq!(&data[record.offset..record.offset + again.len()], &again[..]);
            let (lsn, args, len) = parse_stream(&data[record.offset..])
                .expect("a record the reader accepts parses as a stream record")
                .expect("and is complete");
            assert_eq!((lsn, &args, len), (record.lsn, &record.args, again.len()));
            previous_end = reader.position();
        }
        assert!(reader.position() <= data.len());
    }
    for kind in [header::Kind::Segment, header::Kind::Base] {
        let path = std::path::Path::new("fuzz.aof");
        if let Ok(format) = header::read(data, kind, Some(1), path) {
            assert!(format.records_at <= data.len());
            assert!(format.version <= header::VERSION);
            let mut reader = Reader::at(data, format.records_at, Some(1));
            while let Ok(Some(record)) = reader.next_record() {
                assert!(record.offset >= format.records_at);
            }
            assert!(reader.position() <= data.len());
        }
    }
    let mut rest = data;
    while let Ok(Some((_, _, len))) = parse_stream(rest) {
        assert!(len > 0 && len <= rest.len());
        rest = &rest[len..];
    }
}
