//! LOLWUT: computer art and the version, as Redis 7 draws it. `VERSION 5` is Georg
//! Nees's "Schotter" in Braille characters, `VERSION 6` a skyline of ANSI-coloured
//! cells; anything else (and no VERSION) only the version line. The pictures are drawn
//! with Redis's own geometry, in the same float and integer steps, so a picture that
//! uses no randomness (Schotter with at most two rows of squares) is byte for byte
//! Redis's. The version line is Redis's shape with the version Roost answers as
//! (INFO's `redis_version`).

use bytes::Bytes;

use super::flags::*;
use super::{args, Ctx, Outcome, Spec, NO_KEYS};
use crate::protocol::Reply;
use crate::rand::Rng;

pub const COMMANDS: &[Spec] = &[super::command!(
    "server",
    "lolwut",
    -1,
    READONLY | FAST,
    NO_KEYS,
    lolwut,
    "5.0.0",
    "Displays computer art and the Redis version"
)];

fn version_line() -> String {
    format!("Redis ver. {}\n", crate::VERSION_COMPAT)
}

fn lolwut(_ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    // `VERSION n` picks the drawing by the version "n.0.0", as Redis does; the numbers
    // after it are the drawing's own arguments.
    let (version, rest) = if args.len() >= 3 && args::is(&args[1], "version") {
        // Printed with %u in Redis: a negative number wraps around.
        (Some(args::int(&args[2])? as u32), &args[3..])
    } else {
        (None, &args[1..])
    };
    let text = match version {
        Some(5) => schotter(rest)?,
        Some(6) => skyline(rest)?,
        _ => version_line(),
    };
    Ok(Reply::Verbatim(Bytes::from(text)))
}

/// The optional numeric arguments, each clamped to `[1, max]`.
fn numbers<const N: usize>(
    args: &[Bytes],
    defaults: [i64; N],
    max: i64,
) -> Result<[i64; N], Reply> {
    let mut values = defaults;
    for (value, arg) in values.iter_mut().zip(args) {
        *value = args::int(arg)?;
    }
    Ok(values.map(|v| v.clamp(1, max)))
}

/// Redis's `rand()`: 31 random bits.
fn rand(rng: &mut Rng) -> i64 {
    (rng.next_u64() >> 33) as i64
}

const RAND_MAX: f32 = 2147483647.0;

/// A grid of pixels, each a colour number.
struct Canvas {
    width: i64,
    height: i64,
    pixels: Vec<u8>,
}

impl Canvas {
    fn new(width: i64, height: i64, background: u8) -> Canvas {
        Canvas {
            width,
            height,
            pixels: vec![background; (width * height).max(0) as usize],
        }
    }

    fn set(&mut self, x: i64, y: i64, color: u8) {
        if (0..self.width).contains(&x) && (0..self.height).contains(&y) {
            self.pixels[(x + y * self.width) as usize] = color;
        }
    }

    fn get(&self, x: i64, y: i64) -> u8 {
        if (0..self.width).contains(&x) && (0..self.height).contains(&y) {
            self.pixels[(x + y * self.width) as usize]
        } else {
            0
        }
    }

    /// Bresenham's line, as Redis draws it.
    fn line(&mut self, mut x1: i64, mut y1: i64, x2: i64, y2: i64, color: u8) {
        let dx = (x2 - x1).abs();
        let dy = (y2 - y1).abs();
        let sx = if x1 < x2 { 1 } else { -1 };
        let sy = if y1 < y2 { 1 } else { -1 };
        let mut err = dx - dy;
        loop {
            self.set(x1, y1, color);
            if x1 == x2 && y1 == y2 {
                break;
            }
            let e2 = err * 2;
            if e2 > -dy {
                err -= dy;
                x1 += sx;
            }
            if e2 < dx {
                err += dx;
                y1 += sy;
            }
        }
    }

    /// A square centred on (x, y), `size` its side before rotation by `angle`.
    fn square(&mut self, x: i64, y: i64, size: f32, angle: f32, color: u8) {
        // In C: a float divided by Redis's literal (not quite SQRT_2), rounded as a double.
        #[allow(clippy::approx_constant)]
        let size = (((size as f64 / 1.4142135623) as f32) as f64).round() as f32;
        let mut px = [0i64; 4];
        let mut py = [0i64; 4];
        let mut k: f32 = (std::f64::consts::FRAC_PI_4 + angle as f64) as f32;
        for j in 0..4 {
            px[j] = ((k as f64).sin() * size as f64 + x as f64).round() as i64;
            py[j] = ((k as f64).cos() * size as f64 + y as f64).round() as i64;
            k = (k as f64 + std::f64::consts::FRAC_PI_2) as f32;
        }
        for j in 0..4 {
            self.line(px[j], py[j], px[(j + 1) % 4], py[(j + 1) % 4], color);
        }
    }
}

/// LOLWUT VERSION 5 [columns [squares-per-row [squares-per-column]]].
fn schotter(args: &[Bytes]) -> Result<String, Reply> {
    let [cols, per_row, per_col] = numbers(args, [66, 8, 12], 1000)?;
    let per_row = per_row.min(200);
    let per_col = per_col.min(200);
    let mut rng = Rng::from_entropy();
    let width = cols * 2;
    let padding = if width > 4 { 2 } else { 0 };
    let side = (width - padding * 2) as f32 / per_row as f32;
    let height = (side * per_col as f32 + (padding * 2) as f32) as i64;
    let mut canvas = Canvas::new(width, height, 0);
    for y in 0..per_col {
        for x in 0..per_row {
            let mut sx = (x as f32 * side + side / 2.0 + padding as f32) as i64;
            let mut sy = (y as f32 * side + side / 2.0 + padding as f32) as i64;
            let mut angle = 0.0f32;
            // Rows further down are rotated and moved more, at random.
            if y > 1 {
                let mut r = [0.0f32; 3];
                for v in &mut r {
                    *v = rand(&mut rng) as f32 / RAND_MAX / per_col as f32 * y as f32;
                }
                for v in &mut r {
                    if rand(&mut rng) % 2 == 1 {
                        *v = -*v;
                    }
                }
                angle = r[0];
                sx = (sx as f32 + r[1] * side / 3.0) as i64;
                sy = (sy as f32 + r[2] * side / 3.0) as i64;
            }
            canvas.square(sx, sy, side, angle, 1);
        }
    }
    let mut text = braille(&canvas);
    text.push_str("\nGeorg Nees - schotter, plotter on paper, 1968. ");
    text.push_str(&version_line());
    Ok(text)
}

/// Each 2x4 block of pixels as one Braille character (U+2800 plus Redis's bit order).
fn braille(canvas: &Canvas) -> String {
    let mut text = String::new();
    for y in (0..canvas.height).step_by(4) {
        for x in (0..canvas.width).step_by(2) {
            let dots = [
                (0, 0),
                (0, 1),
                (0, 2),
                (1, 0),
                (1, 1),
                (1, 2),
                (0, 3),
                (1, 3),
            ];
            let byte = dots
                .iter()
                .enumerate()
                .filter(|(_, (dx, dy))| canvas.get(x + dx, y + dy) != 0)
                .fold(0u32, |b, (bit, _)| b | 1 << bit);
            text.push(char::from_u32(0x2800 + byte).unwrap_or(' '));
        }
        if y != canvas.height - 1 {
            text.push('\n');
        }
    }
    text
}

/// LOLWUT VERSION 6 [columns [rows]]: a city skyline in the four greys of a terminal.
fn skyline(args: &[Bytes]) -> Result<String, Reply> {
    let [cols, rows] = numbers(args, [80, 20], 1000)?;
    let mut rng = Rng::from_entropy();
    let mut canvas = Canvas::new(cols, rows, 3);
    // Background buildings without windows, the lighter ones behind.
    for color in [2u8, 1] {
        let mut offset = -10;
        while offset < canvas.width {
            offset += rand(&mut rng) % 8;
            let width = 10 + rand(&mut rng) % 9;
            let height = if color == 2 {
                canvas.height / 2 + rand(&mut rng) % canvas.height / 2
            } else {
                canvas.height / 2 + rand(&mut rng) % canvas.height / 3
            };
            let building = Building {
                xoff: offset,
                width,
                height,
                windows: false,
                color,
            };
            building.draw(&mut canvas, &mut rng);
            offset += if color == 2 { width / 2 } else { width + 1 };
        }
    }
    // The foreground, with windows.
    let mut offset = -10;
    while offset < canvas.width {
        offset += rand(&mut rng) % 8;
        let mut width = 5 + rand(&mut rng) % 14;
        if width % 4 != 0 {
            width += width % 3;
        }
        let height = canvas.height / 3 + rand(&mut rng) % canvas.height / 2;
        let building = Building {
            xoff: offset,
            width,
            height,
            windows: true,
            color: 0,
        };
        building.draw(&mut canvas, &mut rng);
        offset += width + 5;
    }
    let mut text = String::new();
    for y in 0..canvas.height {
        for x in 0..canvas.width {
            let escape = match canvas.get(x, y) {
                1 => "0;90;100m",
                2 => "0;37;47m",
                3 => "0;97;107m",
                _ => "0;30;40m",
            };
            text.push_str(&format!("\x1b[{escape} \x1b[0m"));
        }
        if y != canvas.height - 1 {
            text.push('\n');
        }
    }
    text.push_str(
        "\nDedicated to the 8 bit game developers of past and present.\n\
         Original 8 bit image from Plaguemon by hikikomori. ",
    );
    text.push_str(&version_line());
    Ok(text)
}

struct Building {
    xoff: i64,
    width: i64,
    height: i64,
    windows: bool,
    color: u8,
}

impl Building {
    fn draw(&self, canvas: &mut Canvas, rng: &mut Rng) {
        let start_y = canvas.height - 1;
        let end_y = start_y - self.height + 1;
        let mut y = start_y;
        while y >= end_y {
            for x in self.xoff..self.xoff + self.width {
                // The roof is four pixels narrower.
                if y == end_y && (x <= self.xoff + 1 || x >= self.xoff + self.width - 2) {
                    continue;
                }
                let mut color = self.color;
                if self.windows
                    && x > self.xoff + 1
                    && x < self.xoff + self.width - 2
                    && y > end_y + 1
                    && y < start_y - 1
                {
                    let relx = x - (self.xoff + 1);
                    let rely = y - (end_y + 1);
                    // Windows two pixels wide, one tall (terminal cells are tall).
                    if (relx / 2) % 2 != 0 && rely % 2 != 0 {
                        loop {
                            color = 1 + (rand(rng) % 2) as u8;
                            if color != self.color {
                                break;
                            }
                        }
                        if relx % 2 != 0 {
                            color = canvas.get(x - 1, y);
                        }
                    }
                }
                canvas.set(x, y, color);
            }
            y -= 1;
        }
    }
}
