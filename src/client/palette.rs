//! Names' colours: each name seen in a session gets a style of its own
//! while the palette has one free, and keeps it; past that, the style of
//! the name seen longest ago is taken over. So the people talking on the
//! screen look different, not only most of them (a hash alone gave 19
//! names 8 colours, Alice, Bob and Max one). No style is one that means
//! something else: red (errors), green (the server's notices), magenta
//! (private messages), black on yellow (a mention). Pure: names in,
//! styles out, for the [`Colors`] the terminal shows.

use yansi::{Color, Style};

/// What colours the terminal shows, decided once by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colors {
    /// None at all (not a terminal, or `NO_COLOR`).
    Off,
    /// The 16 basic colours.
    Basic,
    /// The 256-colour palette.
    Extended,
    /// 24-bit colour (`COLORTERM=truecolor` or `24bit`).
    True,
}

impl Colors {
    pub fn on(self) -> bool {
        self != Colors::Off
    }
}

/// Names' colours on a 24-bit terminal: fourteen, each 20° of hue or a
/// fifth of the lightness scale from every other (the tests measure it),
/// none near red, green or magenta: ten bright hues, then four darker.
const TRUE_NAMES: [(u8, u8, u8); 14] = [
    (255, 152, 61), // orange
    (255, 223, 61), // gold
    (216, 255, 61), // lime
    (61, 255, 158), // spring green
    (61, 255, 229), // aquamarine
    (61, 207, 255), // sky blue
    (61, 132, 255), // azure
    (68, 61, 255),  // blue
    (142, 61, 255), // violet
    (255, 61, 158), // rose
    (204, 129, 0),  // ochre
    (122, 204, 0),  // olive green
    (0, 204, 136),  // sea green
    (0, 112, 204),  // steel blue
];

/// Names' colours on a 256-colour terminal: the first eight at least 20°
/// apart in hue, so that eight people look different however the
/// terminal draws bold; then darker and lighter ones.
const EXTENDED_NAMES: [u8; 13] = [
    202, // orange
    220, // gold
    148, // yellow-green
    43,  // teal
    39,  // sky blue
    63,  // indigo
    135, // purple
    205, // rose
    94,  // brown
    222, // sand
    123, // pale cyan
    117, // pale blue
    192, // pale lime
];

/// The hues a 16-colour terminal has for names: not red, green or
/// magenta, and never bright and normal of one hue (many terminals draw
/// bold as bright, which would make such a pair one colour).
const BASIC_HUES: [Color; 3] = [Color::Cyan, Color::Yellow, Color::Blue];

/// Styles on a 16-colour terminal: three hues bold, then underlined, then
/// cyan and blue as a background (yellow's is a mention's).
const BASIC_STYLES: usize = BASIC_HUES.len() * 2 + 2;

/// The style of each slot of a palette for `colors`.
fn style_at(slot: usize, colors: Colors) -> Style {
    match colors {
        Colors::Off => Style::new(),
        Colors::True => {
            let (r, g, b) = TRUE_NAMES[slot];
            Style::new().fg(Color::Rgb(r, g, b)).bold()
        }
        Colors::Extended => Style::new().fg(Color::Fixed(EXTENDED_NAMES[slot])).bold(),
        Colors::Basic => {
            let hue = BASIC_HUES[slot % BASIC_HUES.len()];
            match slot {
                0..3 => Style::new().fg(hue).bold(),
                3..6 => Style::new().fg(hue).bold().underline(),
                6 => Style::new().fg(Color::Black).bg(Color::Cyan),
                _ => Style::new().fg(Color::White).bg(Color::Blue).bold(),
            }
        }
    }
}

/// How many names can look different in `colors`.
fn slots(colors: Colors) -> usize {
    match colors {
        Colors::Off => 1,
        Colors::True => TRUE_NAMES.len(),
        Colors::Extended => EXTENDED_NAMES.len(),
        Colors::Basic => BASIC_STYLES,
    }
}

/// Who holds a style.
#[derive(Debug, Clone)]
struct Holder {
    /// The name, case-folded (the room's names differ by more than case).
    key: String,
    /// When it was last shown, in names shown so far.
    seen: u64,
}

/// The styles of the names seen in one session.
#[derive(Debug, Clone)]
pub struct Palette {
    colors: Colors,
    /// Each style, and who holds it (as many as the palette has styles:
    /// bounded, whatever names a room sends).
    holders: Vec<Option<Holder>>,
    /// Names shown so far: the clock of `seen`.
    shown: u64,
}

impl Palette {
    pub fn new(colors: Colors) -> Palette {
        Palette {
            colors,
            holders: vec![None; slots(colors)],
            shown: 0,
        }
    }

    /// What colours the terminal shows.
    pub fn colors(&self) -> Colors {
        self.colors
    }

    /// The style of `name`: the one it holds, else its own free one (its
    /// first choice comes from the name, so that the same few people get
    /// the same colours in every session), else the one of the name shown
    /// longest ago.
    pub fn style(&mut self, name: &str) -> Style {
        let key = name.to_lowercase();
        self.shown += 1;
        let slot = match self.holders.iter().position(|h| holds(h, &key)) {
            Some(slot) => slot,
            None => self.free_slot(&key),
        };
        self.holders[slot] = Some(Holder {
            key,
            seen: self.shown,
        });
        style_at(slot, self.colors)
    }

    /// The style of a room's name: always the one its name picks (a room
    /// keeps its colour however many people are shown; it may share it
    /// with a person, whose name is never in brackets).
    pub fn stable(&self, name: &str) -> Style {
        let key = name.to_lowercase();
        style_at(fnv1a(&key) as usize % self.holders.len(), self.colors)
    }

    /// A slot for a name that holds none: free, from its first choice on,
    /// else the one seen longest ago.
    fn free_slot(&self, key: &str) -> usize {
        let n = self.holders.len();
        let first = fnv1a(key) as usize % n;
        let free = (0..n)
            .map(|i| (first + i) % n)
            .find(|&slot| self.holders[slot].is_none());
        free.unwrap_or_else(|| {
            let oldest = self
                .holders
                .iter()
                .enumerate()
                .min_by_key(|(_, h)| h.as_ref().map_or(0, |h| h.seen));
            oldest.map_or(0, |(slot, _)| slot)
        })
    }
}

fn holds(holder: &Option<Holder>, key: &str) -> bool {
    holder.as_ref().is_some_and(|h| h.key == key)
}

/// FNV-1a: stable across runs, unlike std's hasher.
fn fnv1a(text: &str) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in text.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    const ALL: [Colors; 3] = [Colors::Basic, Colors::Extended, Colors::True];

    fn names(n: usize) -> Vec<String> {
        let some = [
            "Alice", "Bob", "Max", "Dana", "Eve", "Frank", "Grace", "Heidi", "Ivan", "Judy",
            "Mallory", "Niaj", "Olivia", "Peggy", "Rupert", "Sybil",
        ];
        some.iter().take(n).map(|s| s.to_string()).collect()
    }

    #[test]
    fn as_many_people_as_the_palette_has_styles_all_look_different() {
        for colors in ALL {
            let mut palette = Palette::new(colors);
            let n = slots(colors);
            assert!(n >= 8, "{colors:?} has {n} styles");
            let styles: HashSet<String> = names(n)
                .iter()
                .map(|name| format!("{:?}", palette.style(name)))
                .collect();
            assert_eq!(styles.len(), n, "{colors:?}");
        }
    }

    #[test]
    fn a_room_keeps_its_style_whoever_is_shown() {
        for colors in ALL {
            let mut palette = Palette::new(colors);
            let before = palette.stable("#ops");
            for name in names(100) {
                palette.style(&name);
            }
            assert_eq!(palette.stable("#OPS"), before);
            assert_eq!(
                Palette::new(colors).stable("#ops"),
                before,
                "in every session"
            );
        }
        assert_eq!(Palette::new(Colors::Off).stable("#ops"), Style::new());
    }

    #[test]
    fn a_name_keeps_its_style_in_any_case_and_however_often_seen() {
        for colors in ALL {
            let mut palette = Palette::new(colors);
            let max = palette.style("Max");
            for name in names(6) {
                palette.style(&name);
            }
            assert_eq!(palette.style("max"), max);
            assert_eq!(palette.style("MAX"), max);
        }
    }

    #[test]
    fn past_the_palette_the_name_seen_longest_ago_gives_up_its_style() {
        let mut palette = Palette::new(Colors::Extended);
        let all = names(EXTENDED_NAMES.len() + 1);
        let first = palette.style(&all[0]);
        for name in &all[1..all.len() - 1] {
            palette.style(name);
        }
        // The first speaks again: the second is now the one seen longest ago.
        assert_eq!(palette.style(&all[0]), first);
        let second = palette.style(&all[1]);
        let newcomer = palette.style(&all[all.len() - 1]);
        assert_ne!(newcomer, first);
        assert_ne!(newcomer, second, "the second was just seen");
        assert_eq!(palette.holders.len(), EXTENDED_NAMES.len(), "bounded");
    }

    #[test]
    fn a_room_of_a_thousand_names_holds_no_more_than_the_palette() {
        let mut palette = Palette::new(Colors::True);
        for i in 0..1000 {
            palette.style(&format!("user{i}"));
        }
        assert_eq!(palette.holders.len(), TRUE_NAMES.len());
    }

    #[test]
    fn on_16_colours_names_take_no_colour_that_means_something_else() {
        let taken = [
            Color::Red,
            Color::Green,
            Color::Magenta,
            Color::BrightRed,
            Color::BrightGreen,
            Color::BrightMagenta,
            Color::BrightCyan,
            Color::BrightYellow,
            Color::BrightBlue,
        ];
        for slot in 0..BASIC_STYLES {
            let style = style_at(slot, Colors::Basic);
            for colour in [style.foreground, style.background].into_iter().flatten() {
                assert!(!taken.contains(&colour), "{style:?}");
            }
            // A mention is black on yellow.
            assert!(
                !(style.background == Some(Color::Yellow)
                    && style.foreground == Some(Color::Black)),
                "{style:?}"
            );
        }
    }

    /// Hue (degrees) and lightness (0–1) of an RGB colour.
    fn hue_lightness((r, g, b): (u8, u8, u8)) -> (f64, f64) {
        let (r, g, b) = (f64::from(r), f64::from(g), f64::from(b));
        let (max, min) = (r.max(g).max(b), r.min(g).min(b));
        assert!(max - min > 60.0, "({r}, {g}, {b}) is nearly grey");
        let hue = if max == r {
            (g - b) / (max - min)
        } else if max == g {
            2.0 + (b - r) / (max - min)
        } else {
            4.0 + (r - g) / (max - min)
        };
        ((hue * 60.0).rem_euclid(360.0), (max + min) / 510.0)
    }

    fn hue_apart(a: f64, b: f64) -> f64 {
        let apart = (a - b).abs();
        apart.min(360.0 - apart)
    }

    /// xterm's RGB for an index of its 6×6×6 cube.
    fn cube_rgb(index: u8) -> (u8, u8, u8) {
        assert!((16..232).contains(&index), "{index} is not in the cube");
        let level = |n: u8| if n == 0 { 0 } else { 55 + 40 * n };
        let i = index - 16;
        (level(i / 36), level(i / 6 % 6), level(i % 6))
    }

    /// Each pair differs by 20° of hue or by a fifth of the lightness
    /// scale, and none is within 20° of red (errors), green (notices) or
    /// magenta (private messages).
    fn assert_apart(colours: &[(u8, u8, u8)]) {
        let seen: Vec<(f64, f64)> = colours.iter().map(|&c| hue_lightness(c)).collect();
        for (i, &(hue, light)) in seen.iter().enumerate() {
            for meaning in [0.0, 120.0, 300.0] {
                assert!(hue_apart(hue, meaning) >= 20.0, "{:?}: {hue}°", colours[i]);
            }
            for (j, &(other_hue, other_light)) in seen.iter().enumerate().skip(i + 1) {
                assert!(
                    hue_apart(hue, other_hue) >= 20.0 || (light - other_light).abs() >= 0.2,
                    "{:?} and {:?} look alike",
                    colours[i],
                    colours[j]
                );
            }
        }
    }

    #[test]
    fn twenty_four_bit_names_are_apart_and_mean_nothing_else() {
        assert_apart(&TRUE_NAMES);
    }

    #[test]
    fn names_on_a_256_colour_terminal_are_apart_and_mean_nothing_else() {
        let colours: Vec<(u8, u8, u8)> = EXTENDED_NAMES.iter().map(|&i| cube_rgb(i)).collect();
        assert_apart(&colours);
        // However bold is drawn, the first eight differ in hue alone.
        assert_apart(&colours[..8]);
        let hues: Vec<f64> = colours[..8].iter().map(|&c| hue_lightness(c).0).collect();
        for (i, a) in hues.iter().enumerate() {
            for b in &hues[i + 1..] {
                assert!(hue_apart(*a, *b) >= 20.0, "{a}° and {b}°");
            }
        }
    }
}
