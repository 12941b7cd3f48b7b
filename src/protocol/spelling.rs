//! What user names and room names share: the characters either may hold,
//! kept in NFC, and the look-alike key each is unique under. The rules
//! themselves, and why each exists, are told in [`super::name`]; room
//! names ([`super::room`]) follow them so that `#ops` cannot pass for
//! `#0ps` any more than `Max` for `rnax`.

use std::fmt;
use std::sync::Arc;

use unicode_normalization::UnicodeNormalization;
use unicode_script::{Script, UnicodeScript};
use unicode_security::mixed_script::AugmentedScriptSet;
use unicode_security::skeleton;

use super::unicode::{is_blank, is_default_ignorable, is_format, push_unenclosed};

/// What is wrong with a spelling, whatever it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flaw {
    Empty,
    TooLong,
    Whitespace,
    Control,
    Invisible,
    Unassigned,
    MixedScripts,
    NotUtf8,
    LooseMark,
}

impl Flaw {
    /// The reason in plain words, to follow "a name " or "a room name ".
    pub fn predicate(self) -> &'static str {
        match self {
            Flaw::Empty => "cannot be empty",
            Flaw::TooLong => "is at most 32 characters",
            Flaw::Whitespace => "cannot contain spaces",
            Flaw::Control => "cannot contain control characters",
            Flaw::Invisible => "cannot contain invisible characters",
            Flaw::Unassigned => "cannot contain unassigned or private-use characters",
            Flaw::MixedScripts => {
                "cannot mix letters of different scripts (such as Latin and Cyrillic)"
            }
            Flaw::NotUtf8 => "must be valid UTF-8 and cannot contain U+FFFD",
            Flaw::LooseMark => {
                "cannot put an accent or mark on a letter that has no such accented form"
            }
        }
    }
}

/// A checked spelling and the key it is unique under: what a
/// [`super::name::Name`] and a [`super::room::RoomName`] each hold (and
/// dereference to).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Spelled {
    /// As shown: in NFC, as first spelled.
    text: Box<str>,
    /// See [`Spelled::key`]; shared, because a room or the lobby keeps it
    /// as its map key too (one allocation, not two, for each of thousands
    /// of people online).
    key: Arc<str>,
}

impl Spelled {
    /// `text` as shown, unique under `key`.
    pub fn new(text: String, key: String) -> Spelled {
        Spelled {
            text: text.into(),
            key: key.into(),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The key under which the spelling is unique: two with one key look
    /// alike, so they name one person (or one room). `Max`, `mAX`, `МАХ`
    /// (in Cyrillic), `Ｍａｘ` and `rnax` share one; so do `ops`, `OPS`
    /// and `0ps`.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// [`Spelled::key`], shared: for a map keyed by it.
    pub fn shared_key(&self) -> Arc<str> {
        self.key.clone()
    }
}

impl fmt::Display for Spelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The longest name or room name (after its `#`), in characters.
pub const MAX_CHARS: usize = 32;

/// `text` in NFC, if every character of it may be shown as part of a name:
/// 1 to [`MAX_CHARS`] of them, none blank, control, invisible, unassigned
/// or a loose mark, and no U+FFFD. The scripts are judged apart
/// ([`fits_one_script`]), since a name's own rules come first.
pub fn checked(text: &str) -> Result<String, Flaw> {
    if text.is_empty() {
        return Err(Flaw::Empty);
    }
    let text: String = text.nfc().collect();
    if text.chars().count() > MAX_CHARS {
        return Err(Flaw::TooLong);
    }
    if text.contains(char::REPLACEMENT_CHARACTER) {
        return Err(Flaw::NotUtf8);
    }
    if text.chars().any(char::is_control) {
        return Err(Flaw::Control);
    }
    if text
        .chars()
        .any(|c| is_default_ignorable(c) || is_format(c))
    {
        return Err(Flaw::Invisible);
    }
    if has_loose_mark(&text) {
        return Err(Flaw::LooseMark);
    }
    // Unassigned, private-use and noncharacter code points: nobody can
    // say how (or whether) another person's terminal draws them.
    // They are the characters of no script (Zzzz).
    if text.chars().any(|c| c.script() == Script::Unknown) {
        return Err(Flaw::Unassigned);
    }
    if text.chars().any(is_blank) {
        return Err(Flaw::Whitespace);
    }
    Ok(text)
}

/// The confusable skeleton (UTS #39) with case folded. The skeleton tells
/// case apart (`m` is drawn like `rn`, `M` like nothing else), and case
/// mappings do not keep look-alikes together (Greek `ν` looks like `v`, its
/// capital `Ν` like `N`), so no one key can be both; this one puts the look
/// first. It takes the skeleton of the name as typed (`ν` → `v`, `Ѕ` → `S`),
/// then of its upper case (where capitals alike across scripts meet, as
/// Cyrillic `М` and Latin `M` do while their small letters differ), then of
/// that lowered (`rn` and `m` meet again). Small capitals that the skeleton
/// gives for Cyrillic and Greek small letters (`в` → `ʙ`) count as their
/// capitals, so `Наташа` and `наташа` are one name. A few letters whose two
/// cases look like two different Latin letters (Greek `ν`/`Ν`, `η`/`Η`,
/// Cyrillic `г`/`Г`) give two keys: the look decides. The price the other
/// way is a few distinct letters whose capitals look alike sharing a key
/// (`i` and `l`, as `I` is drawn like `l`): a second person is asked for
/// another name rather than being able to pass for the first.
///
/// Before all that, enclosed letters are unframed (`Ⓑ`, `🅱` → `B`): the
/// skeleton does not see the letter in them.
pub fn key_of(name: &str) -> String {
    let mut plain = String::with_capacity(name.len());
    for c in name.chars() {
        push_unenclosed(c, &mut plain);
    }
    let shape: String = skeleton(&plain).map(small_capital_as_capital).collect();
    let upper: String = skeleton(&shape.to_uppercase()).collect();
    skeleton(&upper.to_lowercase()).collect()
}

/// Whether a name in NFC holds a combining mark that NFC could not
/// compose into the letter before it and that this letter's script does
/// not use on its own: a mark of the Inherited script that is used with
/// Latin, Greek or Cyrillic (whose accented letters are composed), or with
/// any script (U+0332, U+0336), or not with the script of its letter
/// (kana voicing on a Latin `b`), or with no letter before it.
fn has_loose_mark(name: &str) -> bool {
    let mut letter = None;
    for c in name.chars() {
        if c.script() != Script::Inherited {
            letter = Some(c.script());
            continue;
        }
        let used_with = c.script_extension();
        let loose = used_with.is_inherited()
            || [Script::Latin, Script::Greek, Script::Cyrillic]
                .into_iter()
                .any(|script| used_with.contains_script(script))
            || letter.is_none_or(|script| !used_with.contains_script(script));
        if loose {
            return true;
        }
    }
    false
}

/// The small capitals that the skeleton uses as prototypes for Cyrillic and
/// Greek small letters (`в`, `н`, `т`, `к`, `м`, `ε`, `є`), as the capitals they
/// are drawn like: the skeleton has no case, and these have no upper case.
fn small_capital_as_capital(c: char) -> char {
    match c {
        '\u{0299}' => 'B',
        '\u{029C}' => 'H',
        '\u{1D1B}' => 'T',
        '\u{0138}' => 'K',
        '\u{028D}' => 'M',
        '\u{A792}' | '\u{A793}' => 'E',
        c => c,
    }
}

/// Whether the name's letters fit UTS #39's "Highly Restrictive" level: its
/// characters' scripts have one in common (characters such as digits,
/// punctuation and emoji belong to every script), or those that are not
/// Latin fit one of Han with Japanese kana, Han with Bopomofo or Han with
/// Hangul.
pub fn fits_one_script(name: &str) -> bool {
    if !AugmentedScriptSet::for_str(name).is_empty() {
        return true;
    }
    let mut without_latin = AugmentedScriptSet::default();
    for c in name.chars() {
        let set = AugmentedScriptSet::for_char(c);
        if !set.base.contains_script(Script::Latin) {
            without_latin.intersect_with(set);
        }
    }
    without_latin.hanb || without_latin.jpan || without_latin.kore
}
