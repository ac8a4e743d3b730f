//! GEO commands (Redis's `geo.c`, `geohash.c`, `geohash_helper.c`) on top of sorted
//! sets: a member's score is its 52-bit interleaved geohash (26 steps of longitude in
//! [-180, 180] and latitude in [-85.05112878, 85.05112878]). GEOADD is ZADD with those
//! scores (and is logged as that ZADD); searches scan the 3x3 boxes around the centre
//! at the step Redis estimates from the radius, keep the points within the circle
//! (haversine, Earth radius 6372797.560856 m) or the box, in the order Redis finds them,
//! and sort them when asked. Distances are printed with 4 decimals, coordinates with
//! up to 17 as Redis prints a long double. GEORADIUS(BYMEMBER) ... STORE/STOREDIST and
//! GEOSEARCHSTORE store a sorted set and are logged as themselves: they replay to the
//! same set from the same source.

use bytes::Bytes;

use super::zset::{parse_score, read_zset};
use super::{args, command, error, flags::*, Ctx, Outcome, Spec, ONE_KEY, TWO_KEYS};
use crate::clock;
use crate::notify;
use crate::protocol::Reply;
use crate::store::zset::{AddFlags, ScoreBound, ScoreRange, ZSetObj};
use crate::store::Value;

pub const COMMANDS: &[Spec] = &[
    command!("geo", "geoadd", -5, WRITE | DENYOOM, ONE_KEY, geoadd, "3.2.0",
        "Adds one or more members to a geospatial index. The key is created if it doesn't exist.")
        .with_key_specs(super::redis_meta::UPDATES),
    command!("geo", "geodist", -4, READONLY, ONE_KEY, geodist, "3.2.0",
        "Returns the distance between two members of a geospatial index.")
        .with_key_specs(super::redis_meta::READS),
    command!("geo", "geohash", -2, READONLY, ONE_KEY, geohash, "3.2.0",
        "Returns members from a geospatial index as geohash strings.")
        .with_key_specs(super::redis_meta::READS),
    command!("geo", "geopos", -2, READONLY, ONE_KEY, geopos, "3.2.0",
        "Returns the longitude and latitude of members from a geospatial index.")
        .with_key_specs(super::redis_meta::READS),
    command!("geo", "georadius", -6, WRITE | DENYOOM, ONE_KEY, georadius, "3.2.0",
        "Queries a geospatial index for members within a distance from a coordinate, optionally stores the result.")
        .with_key_specs(super::redis_meta::GEORADIUS)
        .with_find_keys(georadius_keys),
    command!("geo", "georadius_ro", -6, READONLY, ONE_KEY, georadius_ro, "3.2.10",
        "Returns members from a geospatial index that are within a distance from a coordinate.")
        .with_key_specs(super::redis_meta::READS),
    command!("geo", "georadiusbymember", -5, WRITE | DENYOOM, ONE_KEY, georadiusbymember, "3.2.0",
        "Queries a geospatial index for members within a distance from a member, optionally stores the result.")
        .with_key_specs(super::redis_meta::GEORADIUSBYMEMBER)
        .with_find_keys(georadiusbymember_keys),
    command!("geo", "georadiusbymember_ro", -5, READONLY, ONE_KEY, georadiusbymember_ro, "3.2.10",
        "Returns members from a geospatial index that are within a distance from a member.")
        .with_key_specs(super::redis_meta::READS),
    command!("geo", "geosearch", -7, READONLY, ONE_KEY, geosearch, "6.2.0",
        "Queries a geospatial index for members inside an area of a box or a circle.")
        .with_key_specs(super::redis_meta::READS),
    command!("geo", "geosearchstore", -8, WRITE | DENYOOM, TWO_KEYS, geosearchstore, "6.2.0",
        "Queries a geospatial index for members inside an area of a box or a circle, optionally stores the result.")
        .with_key_specs(super::redis_meta::STORES_FROM_SECOND),
];

/// GEORADIUS's keys as Redis 7 finds them from its key specs: the source, the argument
/// after the first STORE and the one after the first STOREDIST (searched from the
/// options on).
fn georadius_keys(args: &[Bytes]) -> Option<Vec<usize>> {
    Some(keys_after_keywords(args, 6))
}

fn georadiusbymember_keys(args: &[Bytes]) -> Option<Vec<usize>> {
    Some(keys_after_keywords(args, 5))
}

fn keys_after_keywords(args: &[Bytes], startfrom: usize) -> Vec<usize> {
    let mut keys = vec![1];
    for keyword in ["store", "storedist"] {
        let found = (startfrom..args.len()).find(|&i| args::is(&args[i], keyword));
        if let Some(i) = found.filter(|&i| i + 1 < args.len()) {
            keys.push(i + 1);
        }
    }
    keys
}

// ---------------------------------------------------------------------------------------
// Geohash
// ---------------------------------------------------------------------------------------

const STEP_MAX: u8 = 26;
const LAT_MIN: f64 = -85.05112878;
const LAT_MAX: f64 = 85.05112878;
const LONG_MIN: f64 = -180.0;
const LONG_MAX: f64 = 180.0;
const EARTH_RADIUS_IN_METERS: f64 = 6372797.560856;
const MERCATOR_MAX: f64 = 20037726.37;
const D_R: f64 = std::f64::consts::PI / 180.0;

#[derive(Clone, Copy, PartialEq, Debug)]
struct Bits {
    bits: u64,
    step: u8,
}

impl Bits {
    const ZERO: Bits = Bits { bits: 0, step: 0 };

    fn is_zero(self) -> bool {
        self.bits == 0 && self.step == 0
    }
}

#[derive(Clone, Copy)]
struct Range {
    min: f64,
    max: f64,
}

const LONG_RANGE: Range = Range {
    min: LONG_MIN,
    max: LONG_MAX,
};
const LAT_RANGE: Range = Range {
    min: LAT_MIN,
    max: LAT_MAX,
};

#[derive(Clone, Copy)]
struct Area {
    longitude: Range,
    latitude: Range,
}

/// Bit i of `x` to bit 2i, bit i of `y` to bit 2i+1.
fn interleave(x: u32, y: u32) -> u64 {
    let spread = |v: u32| {
        let mut v = v as u64;
        v = (v | (v << 16)) & 0x0000_FFFF_0000_FFFF;
        v = (v | (v << 8)) & 0x00FF_00FF_00FF_00FF;
        v = (v | (v << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
        v = (v | (v << 2)) & 0x3333_3333_3333_3333;
        (v | (v << 1)) & 0x5555_5555_5555_5555
    };
    spread(x) | (spread(y) << 1)
}

/// The inverse of `interleave`: even bits in the low half, odd bits in the high half.
fn deinterleave(v: u64) -> u64 {
    let squash = |mut v: u64| {
        v &= 0x5555_5555_5555_5555;
        v = (v | (v >> 1)) & 0x3333_3333_3333_3333;
        v = (v | (v >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
        v = (v | (v >> 4)) & 0x00FF_00FF_00FF_00FF;
        v = (v | (v >> 8)) & 0x0000_FFFF_0000_FFFF;
        (v | (v >> 16)) & 0x0000_0000_FFFF_FFFF
    };
    squash(v) | (squash(v >> 1) << 32)
}

/// `geohashEncode`: `None` outside the indexable area or the given ranges.
fn encode(
    long_range: Range,
    lat_range: Range,
    longitude: f64,
    latitude: f64,
    step: u8,
) -> Option<Bits> {
    if !(LONG_MIN..=LONG_MAX).contains(&longitude) || !(LAT_MIN..=LAT_MAX).contains(&latitude) {
        return None;
    }
    if latitude < lat_range.min
        || latitude > lat_range.max
        || longitude < long_range.min
        || longitude > long_range.max
    {
        return None;
    }
    let mut lat_offset = (latitude - lat_range.min) / (lat_range.max - lat_range.min);
    let mut long_offset = (longitude - long_range.min) / (long_range.max - long_range.min);
    lat_offset *= (1u64 << step) as f64;
    long_offset *= (1u64 << step) as f64;
    Some(Bits {
        bits: interleave(lat_offset as u32, long_offset as u32),
        step,
    })
}

fn encode_wgs84(longitude: f64, latitude: f64, step: u8) -> Option<Bits> {
    encode(LONG_RANGE, LAT_RANGE, longitude, latitude, step)
}

/// `geohashDecode`: the cell a hash names.
fn decode(hash: Bits) -> Area {
    let separated = deinterleave(hash.bits);
    let lat_scale = LAT_RANGE.max - LAT_RANGE.min;
    let long_scale = LONG_RANGE.max - LONG_RANGE.min;
    let ilato = separated as u32;
    let ilono = (separated >> 32) as u32;
    let cells = (1u64 << hash.step) as f64;
    Area {
        latitude: Range {
            min: LAT_RANGE.min + (ilato as f64 * 1.0 / cells) * lat_scale,
            max: LAT_RANGE.min + (ilato.wrapping_add(1) as f64 * 1.0 / cells) * lat_scale,
        },
        longitude: Range {
            min: LONG_RANGE.min + (ilono as f64 * 1.0 / cells) * long_scale,
            max: LONG_RANGE.min + (ilono.wrapping_add(1) as f64 * 1.0 / cells) * long_scale,
        },
    }
}

/// The centre of a cell, clamped to the indexable area: [longitude, latitude].
fn area_center(area: &Area) -> [f64; 2] {
    let lon = ((area.longitude.min + area.longitude.max) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let lat = ((area.latitude.min + area.latitude.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    [lon, lat]
}

/// A score read back as a position (`decodeGeohash`).
fn score_position(score: f64) -> [f64; 2] {
    area_center(&decode(Bits {
        bits: c_double_to_u64(score),
        step: STEP_MAX,
    }))
}

/// C's `(uint64_t)` cast of a double as x86-64 compiles it, for scores no GEOADD wrote
/// (negative, or past 2^64): `cvttsd2si`, whose out-of-range answer is 2^63, on the
/// value or, from 2^63 up, on the value less 2^63 with the top bit flipped back.
fn c_double_to_u64(score: f64) -> u64 {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    let cvttsd2si = |v: f64| {
        if v.is_nan() || !(-TWO_63..TWO_63).contains(&v) {
            1u64 << 63
        } else {
            v as i64 as u64
        }
    };
    if score < TWO_63 {
        cvttsd2si(score)
    } else {
        cvttsd2si(score - TWO_63) ^ (1u64 << 63)
    }
}

/// A position's score: its hash aligned to 52 bits.
fn position_score(longitude: f64, latitude: f64) -> Option<u64> {
    encode_wgs84(longitude, latitude, STEP_MAX).map(|h| h.bits << (52 - 2 * h.step as u32))
}

fn deg_rad(angle: f64) -> f64 {
    angle * D_R
}

fn rad_deg(angle: f64) -> f64 {
    angle / D_R
}

fn lat_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS_IN_METERS * (deg_rad(lat2) - deg_rad(lat1)).abs()
}

/// Haversine great-circle distance in meters (`geohashGetDistance`).
fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let lon1r = deg_rad(lon1);
    let lon2r = deg_rad(lon2);
    let v = ((lon2r - lon1r) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1, lat2);
    }
    let lat1r = deg_rad(lat1);
    let lat2r = deg_rad(lat2);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_IN_METERS * a.sqrt().asin()
}

fn move_x(hash: &mut Bits, d: i8) {
    let x = hash.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let y = hash.bits & 0x5555_5555_5555_5555;
    let shift = 64 - hash.step as u32 * 2;
    let zz = 0x5555_5555_5555_5555u64 >> shift;
    let x = if d > 0 {
        x.wrapping_add(zz + 1)
    } else {
        (x | zz).wrapping_sub(zz + 1)
    };
    hash.bits = (x & (0xaaaa_aaaa_aaaa_aaaau64 >> shift)) | y;
}

fn move_y(hash: &mut Bits, d: i8) {
    let x = hash.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let y = hash.bits & 0x5555_5555_5555_5555;
    let shift = 64 - hash.step as u32 * 2;
    let zz = 0xaaaa_aaaa_aaaa_aaaau64 >> shift;
    let y = if d > 0 {
        y.wrapping_add(zz + 1)
    } else {
        (y | zz).wrapping_sub(zz + 1)
    };
    hash.bits = x | (y & (0x5555_5555_5555_5555u64 >> shift));
}

/// A cell and its eight neighbours, in the order Redis searches them: the cell, north,
/// south, east, west, north-east, north-west, south-east, south-west.
fn neighbourhood(hash: Bits) -> [Bits; 9] {
    let moved = |dx: i8, dy: i8| {
        let mut h = hash;
        if dx != 0 {
            move_x(&mut h, dx);
        }
        if dy != 0 {
            move_y(&mut h, dy);
        }
        h
    };
    [
        hash,
        moved(0, 1),
        moved(0, -1),
        moved(1, 0),
        moved(-1, 0),
        moved(1, 1),
        moved(-1, 1),
        moved(1, -1),
        moved(-1, -1),
    ]
}

const NORTH: usize = 1;
const SOUTH: usize = 2;
const EAST: usize = 3;
const WEST: usize = 4;
const NORTH_EAST: usize = 5;
const NORTH_WEST: usize = 6;
const SOUTH_EAST: usize = 7;
const SOUTH_WEST: usize = 8;

// ---------------------------------------------------------------------------------------
// Shapes and the search
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy)]
enum Extent {
    Radius(f64),
    Box { width: f64, height: f64 },
}

/// What a search covers; sizes are in the request's unit, `conversion` meters each.
#[derive(Clone, Copy)]
struct Shape {
    center: [f64; 2],
    extent: Extent,
    conversion: f64,
}

/// `geohashEstimateStepsByRadius`.
fn estimate_steps(range_meters: f64, lat: f64) -> u8 {
    if range_meters == 0.0 {
        return 26;
    }
    let mut range = range_meters;
    let mut step: i32 = 1;
    while range < MERCATOR_MAX {
        range *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

/// `geohashBoundingBox`: [min lon, min lat, max lon, max lat].
fn bounding_box(shape: &Shape) -> [f64; 4] {
    let [longitude, latitude] = shape.center;
    let (height, width) = match shape.extent {
        Extent::Radius(r) => (shape.conversion * r, shape.conversion * r),
        Extent::Box { width, height } => (
            shape.conversion * (height / 2.0),
            shape.conversion * (width / 2.0),
        ),
    };
    let lat_delta = rad_deg(height / EARTH_RADIUS_IN_METERS);
    let long_delta_top =
        rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(latitude + lat_delta).cos());
    let long_delta_bottom =
        rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(latitude - lat_delta).cos());
    let long_delta = if latitude < 0.0 {
        long_delta_bottom
    } else {
        long_delta_top
    };
    [
        longitude - long_delta,
        latitude - lat_delta,
        longitude + long_delta,
        latitude + lat_delta,
    ]
}

/// `geohashCalculateAreasByShapeWGS84`: the cells to scan, zero where useless.
fn areas_to_search(shape: &Shape) -> [Bits; 9] {
    let [min_lon, min_lat, max_lon, max_lat] = bounding_box(shape);
    let [longitude, latitude] = shape.center;
    let radius_meters = match shape.extent {
        Extent::Radius(r) => r,
        Extent::Box { width, height } => {
            ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt()
        }
    } * shape.conversion;
    let mut steps = estimate_steps(radius_meters, latitude);
    let cell = |steps| {
        encode_wgs84(longitude, latitude, steps).unwrap_or(Bits {
            bits: 0,
            step: steps,
        })
    };
    let mut cells = neighbourhood(cell(steps));
    let decrease = decode(cells[NORTH]).latitude.max < max_lat
        || decode(cells[SOUTH]).latitude.min > min_lat
        || decode(cells[EAST]).longitude.max < max_lon
        || decode(cells[WEST]).longitude.min > min_lon;
    if steps > 1 && decrease {
        steps -= 1;
        cells = neighbourhood(cell(steps));
    }
    if steps >= 2 {
        let area = decode(cells[0]);
        let mut drop = |which: &[usize]| {
            for &i in which {
                cells[i] = Bits::ZERO;
            }
        };
        if area.latitude.min < min_lat {
            drop(&[SOUTH, SOUTH_WEST, SOUTH_EAST]);
        }
        if area.latitude.max > max_lat {
            drop(&[NORTH, NORTH_EAST, NORTH_WEST]);
        }
        if area.longitude.min < min_lon {
            drop(&[WEST, SOUTH_WEST, NORTH_WEST]);
        }
        if area.longitude.max > max_lon {
            drop(&[EAST, SOUTH_EAST, NORTH_EAST]);
        }
    }
    cells
}

/// One point found: its distance in the request's unit.
struct Point {
    member: Bytes,
    score: f64,
    position: [f64; 2],
    dist: f64,
}

/// Whether the point at `score` is inside the shape, and its distance in meters
/// (`geoWithinShape`).
fn within(shape: &Shape, position: [f64; 2]) -> Option<f64> {
    let [x1, y1] = shape.center;
    let [x2, y2] = position;
    match shape.extent {
        Extent::Radius(r) => {
            let d = distance(x1, y1, x2, y2);
            (d <= r * shape.conversion).then_some(d)
        }
        Extent::Box { width, height } => {
            let (width_m, height_m) = (width * shape.conversion, height * shape.conversion);
            if lat_distance(y2, y1) > height_m / 2.0 {
                return None;
            }
            if distance(x2, y2, x1, y2) > width_m / 2.0 {
                return None;
            }
            Some(distance(x1, y1, x2, y2))
        }
    }
}

/// The points of `zset` inside `shape`, in the order Redis finds them; at most `limit`
/// (0: all) for COUNT ... ANY (`membersOfAllNeighbors`).
fn search(zset: &ZSetObj, shape: &Shape, limit: usize) -> Vec<Point> {
    let cells = areas_to_search(shape);
    let mut found = Vec::new();
    let mut last: Option<Bits> = None;
    for cell in cells {
        if cell.is_zero() {
            continue;
        }
        // Huge radii make neighbours coincide: skip a cell equal to the last one scanned.
        if last == Some(cell) {
            continue;
        }
        if limit > 0 && found.len() >= limit {
            break;
        }
        let shift = 52 - 2 * cell.step as u32;
        let min = (cell.bits << shift) as f64;
        let max = ((cell.bits + 1) << shift) as f64;
        let range = ScoreRange {
            min: ScoreBound {
                value: min,
                exclusive: false,
            },
            max: ScoreBound {
                value: max,
                exclusive: true,
            },
        };
        for (member, score) in zset.range_by_score(&range, false) {
            let position = score_position(score);
            if let Some(d) = within(shape, position) {
                found.push(Point {
                    member: member.clone(),
                    score,
                    position,
                    dist: d / shape.conversion,
                });
                if limit > 0 && found.len() >= limit {
                    break;
                }
            }
        }
        last = Some(cell);
    }
    found
}

// ---------------------------------------------------------------------------------------
// Replies and arguments
// ---------------------------------------------------------------------------------------

/// A distance as Redis prints it (`fixedpoint_d2string` with 4 digits: the value times
/// 10^4 rounded half to even, then split).
fn distance_text(d: f64) -> String {
    if d == 0.0 {
        return "0.0000".into();
    }
    let scaled = (d * 10000.0).round_ties_even() as i64;
    let sign = if scaled < 0 { "-" } else { "" };
    let abs = scaled.unsigned_abs();
    format!("{sign}{}.{:04}", abs / 10000, abs % 10000)
}

fn distance_reply(d: f64) -> Reply {
    Reply::Bulk(Bytes::from(distance_text(d)))
}

/// A coordinate as Redis's `addReplyHumanLongDouble` prints it: `%.17Lf` without
/// trailing zeros (a bulk string in RESP2, a double in RESP3).
fn coordinate_text(v: f64) -> String {
    let mut text = format!("{v:.17}");
    if text.contains('.') {
        let trimmed = text.trim_end_matches('0').trim_end_matches('.').len();
        text.truncate(trimmed);
    }
    if text == "-0" {
        text = "0".into();
    }
    text
}

fn coordinates_reply(position: [f64; 2]) -> Reply {
    let one = |v: f64| Reply::DoubleText(Bytes::from(coordinate_text(v)));
    Reply::Array(vec![one(position[0]), one(position[1])])
}

/// A unit's size in meters (`extractUnitOrReply`).
fn unit(arg: &[u8]) -> Result<f64, Reply> {
    if args::is(arg, "m") {
        Ok(1.0)
    } else if args::is(arg, "km") {
        Ok(1000.0)
    } else if args::is(arg, "ft") {
        Ok(0.3048)
    } else if args::is(arg, "mi") {
        Ok(1609.34)
    } else {
        Err(error::GEO_UNSUPPORTED_UNIT)
    }
}

fn float_or(arg: &[u8], refusal: Reply) -> Result<f64, Reply> {
    parse_score(arg).ok_or(refusal)
}

/// A longitude, latitude pair (`extractLongLatOrReply`).
fn lon_lat(lon: &[u8], lat: &[u8]) -> Result<[f64; 2], Reply> {
    let lon = float_or(lon, error::NOT_FLOAT)?;
    let lat = float_or(lat, error::NOT_FLOAT)?;
    if !(LONG_MIN..=LONG_MAX).contains(&lon) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return Err(error::invalid_lon_lat(lon, lat));
    }
    Ok([lon, lat])
}

/// A radius and its unit (`extractDistanceOrReply`).
fn radius(value: &[u8], unit_arg: &[u8]) -> Result<(f64, f64), Reply> {
    let r = float_or(value, error::GEO_NEED_NUMERIC_RADIUS)?;
    if r < 0.0 {
        return Err(error::GEO_NEGATIVE_RADIUS);
    }
    Ok((r, unit(unit_arg)?))
}

/// A box's width, height and unit (`extractBoxOrReply`).
fn box_size(width: &[u8], height: &[u8], unit_arg: &[u8]) -> Result<(f64, f64, f64), Reply> {
    let w = float_or(width, error::GEO_NEED_NUMERIC_WIDTH)?;
    let h = float_or(height, error::GEO_NEED_NUMERIC_HEIGHT)?;
    if h < 0.0 || w < 0.0 {
        return Err(error::GEO_NEGATIVE_BOX);
    }
    Ok((w, h, unit(unit_arg)?))
}

// ---------------------------------------------------------------------------------------
// GEOADD, GEODIST, GEOHASH, GEOPOS
// ---------------------------------------------------------------------------------------

/// GEOADD key [NX|XX] [CH] lon lat member ...: ZADD with each position's score.
fn geoadd(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let mut first = 2;
    let (mut nx, mut xx) = (false, false);
    while first < args.len() {
        let word = &args[first];
        if args::is(word, "nx") {
            nx = true;
        } else if args::is(word, "xx") {
            xx = true;
        } else if !args::is(word, "ch") {
            break;
        }
        first += 1;
    }
    if (args.len() - first) % 3 != 0 || (xx && nx) {
        return Err(error::SYNTAX);
    }
    let mut zadd: Vec<Bytes> = Vec::with_capacity(first + (args.len() - first) / 3 * 2);
    zadd.push(Bytes::from_static(b"zadd"));
    zadd.extend(args[1..first].iter().cloned());
    for triple in args[first..].chunks(3) {
        let [lon, lat] = lon_lat(&triple[0], &triple[1])?;
        let score = position_score(lon, lat).unwrap_or(0);
        zadd.push(Bytes::from(score.to_string()));
        zadd.push(triple[2].clone());
    }
    super::zset::zadd(ctx, &zadd)
}

fn geodist(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let to_meter = match args.len() {
        4 => 1.0,
        5 => unit(&args[4])?,
        _ => return Err(error::SYNTAX),
    };
    let scores = read_zset(ctx.db(), &args[1], |z| {
        z.map(|z| (z.score(&args[2]), z.score(&args[3])))
    })?;
    Ok(match scores {
        Some((Some(a), Some(b))) => {
            let [x1, y1] = score_position(a);
            let [x2, y2] = score_position(b);
            distance_reply(distance(x1, y1, x2, y2) / to_meter)
        }
        _ => Reply::Null,
    })
}

fn geohash(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    read_zset(ctx.db(), &args[1], |z| {
        let hashes = args[2..].iter().map(|member| {
            let Some(score) = z.and_then(|z| z.score(member)) else {
                return Reply::Null;
            };
            // Redis's latitude range is ±85.05; a standard geohash uses ±90.
            let [lon, lat] = score_position(score);
            let standard = Range {
                min: -90.0,
                max: 90.0,
            };
            let bits = encode(LONG_RANGE, standard, lon, lat, STEP_MAX).map_or(0, |h| h.bits);
            let text: Vec<u8> = (0..11)
                .map(|i| {
                    let index = if i == 10 {
                        0
                    } else {
                        (bits >> (52 - (i + 1) * 5)) & 0x1f
                    };
                    ALPHABET[index as usize]
                })
                .collect();
            Reply::Bulk(Bytes::from(text))
        });
        Reply::Array(hashes.collect())
    })
}

fn geopos(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    read_zset(ctx.db(), &args[1], |z| {
        let positions = args[2..]
            .iter()
            .map(|member| match z.and_then(|z| z.score(member)) {
                None => Reply::NullArray,
                Some(score) => coordinates_reply(score_position(score)),
            });
        Reply::Array(positions.collect())
    })
}

// ---------------------------------------------------------------------------------------
// GEORADIUS, GEORADIUSBYMEMBER, GEOSEARCH, GEOSEARCHSTORE
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum Form {
    /// GEORADIUS key lon lat radius unit
    Radius,
    /// GEORADIUSBYMEMBER key member radius unit
    RadiusByMember,
    /// GEOSEARCH key ...
    Search,
    /// GEOSEARCHSTORE dst key ...
    SearchStore,
}

fn georadius(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    search_generic(ctx, args, Form::Radius, true)
}

fn georadius_ro(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    search_generic(ctx, args, Form::Radius, false)
}

fn georadiusbymember(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    search_generic(ctx, args, Form::RadiusByMember, true)
}

fn georadiusbymember_ro(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    search_generic(ctx, args, Form::RadiusByMember, false)
}

fn geosearch(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    search_generic(ctx, args, Form::Search, false)
}

fn geosearchstore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    search_generic(ctx, args, Form::SearchStore, true)
}

#[derive(Clone, Copy, PartialEq)]
enum Order {
    None,
    Asc,
    Desc,
}

/// What a search request asks for beyond its shape.
struct Request {
    shape: Option<Shape>,
    store: Option<Bytes>,
    store_dist: bool,
    with_dist: bool,
    with_hash: bool,
    with_coord: bool,
    order: Order,
    count: usize,
    any: bool,
}

fn member_position(zset: &ZSetObj, member: &[u8]) -> Result<[f64; 2], Reply> {
    zset.score(member)
        .map(score_position)
        .ok_or(error::GEO_MEMBER_NOT_FOUND)
}

/// Parses a request as Redis's `georadiusGeneric` does, errors in its order. The shape
/// is `None` when the source key is missing (the reply is then empty).
fn parse_request(
    args: &[Bytes],
    form: Form,
    may_store: bool,
    zset: Option<&ZSetObj>,
) -> Result<Request, Reply> {
    let mut center = None;
    let mut extent = None;
    let mut conversion = 1.0;
    let base = match form {
        Form::Radius => {
            center = Some(lon_lat(&args[2], &args[3])?);
            let (r, c) = radius(&args[4], &args[5])?;
            extent = Some(Extent::Radius(r));
            conversion = c;
            6
        }
        Form::RadiusByMember => {
            if let Some(z) = zset {
                center = Some(member_position(z, &args[2])?);
                let (r, c) = radius(&args[3], &args[4])?;
                extent = Some(Extent::Radius(r));
                conversion = c;
            }
            5
        }
        Form::Search => 2,
        Form::SearchStore => 3,
    };
    let searching = matches!(form, Form::Search | Form::SearchStore);
    let mut request = Request {
        shape: None,
        store: (form == Form::SearchStore).then(|| args[1].clone()),
        store_dist: false,
        with_dist: false,
        with_hash: false,
        with_coord: false,
        order: Order::None,
        count: 0,
        any: false,
    };
    let (mut from_member, mut from_lonlat, mut by_radius, mut by_box) =
        (false, false, false, false);
    let rest = &args[base..];
    let mut i = 0;
    while i < rest.len() {
        let word = &rest[i];
        let left = rest.len() - i - 1;
        if args::is(word, "withdist") {
            request.with_dist = true;
        } else if args::is(word, "withhash") {
            request.with_hash = true;
        } else if args::is(word, "withcoord") {
            request.with_coord = true;
        } else if args::is(word, "any") {
            request.any = true;
        } else if args::is(word, "asc") {
            request.order = Order::Asc;
        } else if args::is(word, "desc") {
            request.order = Order::Desc;
        } else if args::is(word, "count") && left >= 1 {
            let n = args::int(&rest[i + 1])?;
            if n <= 0 {
                return Err(error::GEO_COUNT_NOT_POSITIVE);
            }
            request.count = n as usize;
            i += 1;
        } else if (args::is(word, "store") || args::is(word, "storedist"))
            && left >= 1
            && may_store
            && !searching
        {
            request.store = Some(rest[i + 1].clone());
            request.store_dist = args::is(word, "storedist");
            i += 1;
        } else if args::is(word, "storedist") && form == Form::SearchStore {
            request.store_dist = true;
        } else if args::is(word, "frommember") && left >= 1 && searching && !from_lonlat {
            if let Some(z) = zset {
                center = Some(member_position(z, &rest[i + 1])?);
            }
            from_member = true;
            i += 1;
        } else if args::is(word, "fromlonlat") && left >= 2 && searching && !from_member {
            center = Some(lon_lat(&rest[i + 1], &rest[i + 2])?);
            from_lonlat = true;
            i += 2;
        } else if args::is(word, "byradius") && left >= 2 && searching && !by_box {
            let (r, c) = radius(&rest[i + 1], &rest[i + 2])?;
            extent = Some(Extent::Radius(r));
            conversion = c;
            by_radius = true;
            i += 2;
        } else if args::is(word, "bybox") && left >= 3 && searching && !by_radius {
            let (width, height, c) = box_size(&rest[i + 1], &rest[i + 2], &rest[i + 3])?;
            extent = Some(Extent::Box { width, height });
            conversion = c;
            by_box = true;
            i += 3;
        } else {
            return Err(error::SYNTAX);
        }
        i += 1;
    }
    if request.store.is_some() && (request.with_dist || request.with_hash || request.with_coord) {
        return Err(if form == Form::SearchStore {
            error::GEOSEARCHSTORE_WITH_OPTIONS
        } else {
            error::GEORADIUS_STORE_WITH_OPTIONS
        });
    }
    if searching && !(from_member || from_lonlat) {
        return Err(error::geo_need_from(&args::text(&args[0])));
    }
    if searching && !(by_radius || by_box) {
        return Err(error::geo_need_by(&args::text(&args[0])));
    }
    if request.any && request.count == 0 {
        return Err(error::GEO_ANY_NEEDS_COUNT);
    }
    if zset.is_some() {
        if let (Some(center), Some(extent)) = (center, extent) {
            request.shape = Some(Shape {
                center,
                extent,
                conversion,
            });
        }
    }
    Ok(request)
}

fn search_generic(ctx: &mut Ctx<'_>, args: &[Bytes], form: Form, may_store: bool) -> Outcome {
    let source = if form == Form::SearchStore { 2 } else { 1 };
    let found = read_zset(ctx.db(), &args[source], |z| -> Result<_, Reply> {
        let mut request = parse_request(args, form, may_store, z)?;
        let (Some(z), Some(shape)) = (z, request.shape) else {
            return Ok((request, None));
        };
        if request.count > 0 && request.order == Order::None && !request.any {
            request.order = Order::Asc;
        }
        let limit = if request.any { request.count } else { 0 };
        Ok((request, Some(search(z, &shape, limit))))
    })??;
    let (request, points) = found;
    let mut points = match points {
        Some(points) => points,
        None => {
            // No source key.
            return Ok(match &request.store {
                Some(dst) => {
                    if ctx.db().remove(dst, clock::now_ms()).is_some() {
                        ctx.notify(notify::GENERIC, "del", dst);
                        propagate_as_is(ctx, args);
                    }
                    Reply::Integer(0)
                }
                None => Reply::Array(Vec::new()),
            });
        }
    };
    let by_dist = |a: &Point, b: &Point| {
        a.dist
            .partial_cmp(&b.dist)
            .unwrap_or(std::cmp::Ordering::Equal)
    };
    match request.order {
        Order::None => {}
        Order::Asc => points.sort_by(by_dist),
        Order::Desc => points.sort_by(|a, b| by_dist(b, a)),
    }
    if request.count > 0 {
        points.truncate(request.count);
    }
    let Some(dst) = request.store else {
        return Ok(search_reply(points, &request));
    };
    let stored = points.len();
    if stored > 0 {
        let mut z = ZSetObj::new();
        for p in &points {
            let score = if request.store_dist { p.dist } else { p.score };
            z.add(&p.member, score, AddFlags::default());
        }
        ctx.db().insert(&dst, Value::ZSet(Box::new(z)), None);
        let event = if matches!(form, Form::Search | Form::SearchStore) {
            "geosearchstore"
        } else {
            "georadiusstore"
        };
        ctx.notify(notify::ZSET, event, &dst);
        propagate_as_is(ctx, args);
    } else if ctx.db().remove(&dst, clock::now_ms()).is_some() {
        ctx.notify(notify::GENERIC, "del", &dst);
        propagate_as_is(ctx, args);
    }
    Ok(Reply::Integer(stored as i64))
}

fn search_reply(points: Vec<Point>, request: &Request) -> Reply {
    let options = request.with_dist || request.with_hash || request.with_coord;
    Reply::Array(
        points
            .into_iter()
            .map(|p| {
                if !options {
                    return Reply::Bulk(p.member);
                }
                let mut item = vec![Reply::Bulk(p.member)];
                if request.with_dist {
                    item.push(distance_reply(p.dist));
                }
                if request.with_hash {
                    item.push(Reply::Integer(p.score as i64));
                }
                if request.with_coord {
                    item.push(coordinates_reply(p.position));
                }
                Reply::Array(item)
            })
            .collect(),
    )
}

/// Logs a storing search as itself, under its canonical (upper-case) name.
fn propagate_as_is(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    let name = args[0].to_ascii_uppercase();
    let mut record: Vec<&[u8]> = vec![&name];
    record.extend(args[1..].iter().map(|a| a.as_ref()));
    ctx.propagate(&record);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn palermo_encodes_as_redis_does() {
        // GEOADD Sicily 13.361389 38.115556 Palermo -> score 3479099956230698 in Redis.
        assert_eq!(position_score(13.361389, 38.115556), Some(3479099956230698));
        let [lon, lat] = score_position(3479099956230698.0);
        assert_eq!(coordinate_text(lon), "13.36138933897018433");
        assert_eq!(coordinate_text(lat), "38.11555639549629859");
    }

    #[test]
    fn interleave_round_trips() {
        for (x, y) in [
            (0u32, 0u32),
            (1, 2),
            (0x3ff_ffff, 0x155_5555),
            (u32::MAX, 7),
        ] {
            let v = deinterleave(interleave(x, y));
            assert_eq!((v as u32, (v >> 32) as u32), (x, y));
        }
    }

    #[test]
    fn distances_print_with_four_decimals() {
        assert_eq!(distance_text(166274.15156960033), "166274.1516");
        assert_eq!(distance_text(0.0), "0.0000");
        assert_eq!(distance_text(0.00005), "0.0000");
    }
}
