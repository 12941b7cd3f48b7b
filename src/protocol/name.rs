//! Usernames. A name is 1–32 characters with no whitespace, no control
//! character and no `:`, and it is not `Server` in any case. Those rules are
//! what let a client tell `Max: hi` (chat) from `Server: …` (a notice) and
//! from `Max (private): hi` without guessing. Names also may not start with
//! `/`, so that a command typed before logging in is never taken as a name.
//!
//! A name must also not pass for another one on screen:
//! - It is kept in NFC, so `José` typed as `e` + U+0301 is the same name as
//!   `José` typed with `é`.
//! - It may not hold anything that shows nothing or cannot be drawn the
//!   same everywhere: default-ignorable characters (zero-width spaces and
//!   joiners, variation selectors, tag characters, Hangul fillers), format
//!   characters (bidi controls, U+FFF9, U+1D173, U+1BCA0, …), unassigned
//!   and private-use code points, and blanks such as U+2800.
//! - Its letters come from one script, as UTS #39's "Highly Restrictive"
//!   level puts it: one script, or Latin with Han and Japanese kana,
//!   Bopomofo or Hangul. `Мax` (a Cyrillic М) is refused, while `Ольга`,
//!   `مهتاب` and `李雷` are not. A team writes names in any one script;
//!   a name that switches script mid-word is almost always a look-alike,
//!   and refusing it costs nobody a name they would really use.
//! - It is unique, and kept from `Server`, by its [`Name::key`]: a confusable
//!   skeleton (UTS #39) with case folded, so `MAX` in Cyrillic letters, `Ｍａｘ`
//!   in full width and `𝐌ax` in mathematical bold all have the key of `Max`.
//!   The key reads enclosed letters as the letter they frame (`Ⓑob` and
//!   `🅱ob` have the key of `Bob`).
//! - Its accents are those of accented letters: a combining mark of Latin,
//!   Greek or Cyrillic (or of any script, as U+0332 LOW LINE or the
//!   overlaid strokes U+0335–U+0338 are) that NFC could not compose into a
//!   letter is refused, since `Bob` with U+0301 or `B̵ob` reads as `Bob`
//!   and would have a key of its own. `José`, typed either way, is fine;
//!   the marks that belong to other scripts (Arabic vowels, kana voicing)
//!   and the vowel signs of Devanagari or Thai (`अनिल`, `สมศักดิ์`) are too.
//!   The price: the few Latin names written with a letter Unicode has no
//!   composed form for (Yoruba `ẹ́`) cannot be typed.
//! - It does not pass for `Server` with its accents and punctuation taken
//!   away: `Sérver`, `Server.`, `_Server_` and `Ⓢerver` are refused.
//! - It holds no U+FFFD, the character that invalid UTF-8 becomes: a name
//!   of such bytes would show as `���` and could not be typed back.
//!
//! Room names are held to the same rules, but for `:`, `/` and `Server`:
//! what both share (the characters, the key) is in [`super::spelling`].

use std::fmt;
use std::sync::Arc;

use unicode_script::{Script, UnicodeScript};

use super::spelling::{checked, fits_one_script, key_of, Flaw, Spelled};

/// The longest name, in characters.
pub const MAX_NAME_CHARS: usize = super::spelling::MAX_CHARS;

/// The name the server speaks as; nobody else may use it.
pub const SERVER_NAME: &str = "Server";

/// A validated username; its text, key and shared key are those of the
/// [`Spelled`] it holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Name(Spelled);

/// Why a name was refused; the text is what the user is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameError {
    /// A flaw that a room name can have too.
    Spelling(Flaw),
    Colon,
    Slash,
    Reserved,
    LooksLikeServer,
}

impl From<Flaw> for NameError {
    fn from(flaw: Flaw) -> Self {
        NameError::Spelling(flaw)
    }
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let why = match self {
            NameError::Spelling(flaw) => return write!(f, "a name {}", flaw.predicate()),
            NameError::Colon => "a name cannot contain ':'",
            NameError::Slash => "a name cannot start with '/'",
            NameError::Reserved => "that name is reserved",
            NameError::LooksLikeServer => "that name looks like Server, which is reserved",
        };
        f.write_str(why)
    }
}

impl std::error::Error for NameError {}

impl Name {
    /// Validates a name as typed (surrounding whitespace is ignored).
    ///
    /// ```
    /// use sockchat::protocol::name::{Name, NameError};
    /// use sockchat::protocol::spelling::Flaw;
    ///
    /// assert_eq!(Name::parse(" Max ").map(|n| n.to_string()), Ok("Max".to_string()));
    /// assert_eq!(Name::parse("server"), Err(NameError::Reserved));
    /// assert_eq!(Name::parse("Ｓｅｒｖｅｒ"), Err(NameError::LooksLikeServer));
    /// assert_eq!(Name::parse("Max Power"), Err(NameError::Spelling(Flaw::Whitespace)));
    /// assert_eq!(Name::parse("M\u{430}x"), Err(NameError::Spelling(Flaw::MixedScripts)));
    /// ```
    pub fn parse(raw: &str) -> Result<Name, NameError> {
        let name = checked(raw.trim())?;
        if name.contains(':') {
            return Err(NameError::Colon);
        }
        if name.starts_with('/') {
            return Err(NameError::Slash);
        }
        if name.eq_ignore_ascii_case(SERVER_NAME) {
            return Err(NameError::Reserved);
        }
        let key = key_of(&name);
        // Worked out once: a skeleton is three passes over the text.
        static SERVER_KEY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        if bare(&key).eq(SERVER_KEY.get_or_init(|| key_of(SERVER_NAME)).chars()) {
            return Err(NameError::LooksLikeServer);
        }
        if !fits_one_script(&name) {
            return Err(Flaw::MixedScripts.into());
        }
        Ok(Name(Spelled::new(name, key)))
    }

    /// The name as shown.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// See [`Spelled::key`].
    pub fn key(&self) -> &str {
        self.0.key()
    }

    /// [`Spelled::shared_key`].
    pub fn shared_key(&self) -> Arc<str> {
        self.0.shared_key()
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A key's letters and digits alone: without its marks (the skeleton
/// has split every accent off its letter) or its punctuation, spaces and
/// symbols. `Server` is kept from a name whose bare key is its own.
fn bare(key: &str) -> impl Iterator<Item = char> + '_ {
    key.chars()
        .filter(|&c| c.is_alphanumeric() && c.script() != Script::Inherited)
}

#[cfg(test)]
mod tests {
    use super::*;
    use unicode_security::general_security_profile::IdentifierType;
    use unicode_security::skeleton;
    use unicode_security::GeneralSecurityProfile;

    #[test]
    fn ordinary_names_are_accepted() {
        for name in ["Max", "Mahtab", "a", "x_y-z.1", "Zoë", "中文", "🦀"] {
            assert_eq!(
                Name::parse(name).map(|n| n.as_str().to_string()),
                Ok(name.to_string())
            );
        }
    }

    #[test]
    fn surrounding_whitespace_is_trimmed() {
        assert_eq!(
            Name::parse("  Max \t").map(|n| n.as_str().to_string()),
            Ok("Max".to_string())
        );
    }

    #[test]
    fn empty_and_whitespace_only_names_are_refused() {
        assert_eq!(Name::parse(""), Err(NameError::Spelling(Flaw::Empty)));
        assert_eq!(Name::parse("   "), Err(NameError::Spelling(Flaw::Empty)));
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        assert!(Name::parse(&"é".repeat(32)).is_ok());
        assert_eq!(
            Name::parse(&"a".repeat(33)),
            Err(NameError::Spelling(Flaw::TooLong))
        );
    }

    #[test]
    fn inner_whitespace_is_refused() {
        assert_eq!(
            Name::parse("Max Power"),
            Err(NameError::Spelling(Flaw::Whitespace))
        );
        assert_eq!(
            Name::parse("Max\u{3000}Power"),
            Err(NameError::Spelling(Flaw::Whitespace))
        );
    }

    #[test]
    fn control_characters_are_refused() {
        assert_eq!(
            Name::parse("Max\x1b[31m"),
            Err(NameError::Spelling(Flaw::Control))
        );
        assert_eq!(
            Name::parse("a\u{9b}b"),
            Err(NameError::Spelling(Flaw::Control))
        );
        assert_eq!(
            Name::parse("a\x7f"),
            Err(NameError::Spelling(Flaw::Control))
        );
    }

    #[test]
    fn invisible_characters_are_refused() {
        for name in ["Max\u{200B}", "\u{202E}xaM", "Ma\u{00AD}x", "\u{FEFF}Max"] {
            assert_eq!(
                Name::parse(name),
                Err(NameError::Spelling(Flaw::Invisible)),
                "{name:?}"
            );
        }
    }

    #[test]
    fn colon_and_leading_slash_are_refused() {
        assert_eq!(Name::parse("Server:x"), Err(NameError::Colon));
        assert_eq!(Name::parse("/quit"), Err(NameError::Slash));
        assert!(Name::parse("a/b").is_ok());
    }

    #[test]
    fn server_is_reserved_in_any_case() {
        for name in ["Server", "server", "SERVER", "sErVeR"] {
            assert_eq!(Name::parse(name), Err(NameError::Reserved));
        }
        assert!(Name::parse("Servers").is_ok());
    }

    #[test]
    fn the_key_folds_case() {
        let a = Name::parse("Max").unwrap();
        let b = Name::parse("mAX").unwrap();
        assert_eq!(a.key(), b.key());
        assert_ne!(a, b);
    }

    fn refused(name: &str) -> NameError {
        match Name::parse(name) {
            Ok(ok) => panic!("{name:?} was accepted as {ok:?}"),
            Err(why) => why,
        }
    }

    fn key(name: &str) -> String {
        match Name::parse(name) {
            Ok(ok) => ok.key().to_string(),
            Err(why) => panic!("{name:?} was refused: {why}"),
        }
    }

    #[test]
    fn server_with_variation_selector_fe0f_is_refused() {
        assert_eq!(
            refused("Server\u{FE0F}"),
            NameError::Spelling(Flaw::Invisible)
        );
    }

    #[test]
    fn max_with_variation_selector_fe0f_is_refused() {
        assert_eq!(refused("Max\u{FE0F}"), NameError::Spelling(Flaw::Invisible));
        assert_eq!(refused("Max\u{FE00}"), NameError::Spelling(Flaw::Invisible));
    }

    #[test]
    fn max_with_variation_selector_supplement_is_refused() {
        assert_eq!(
            refused("Max\u{E0100}"),
            NameError::Spelling(Flaw::Invisible)
        );
        assert_eq!(
            refused("Max\u{E01EF}"),
            NameError::Spelling(Flaw::Invisible)
        );
    }

    #[test]
    fn server_with_musical_begin_beam_1d173_is_refused() {
        assert_eq!(
            refused("Server\u{1D173}"),
            NameError::Spelling(Flaw::Invisible)
        );
    }

    #[test]
    fn server_with_shorthand_format_overlap_1bca0_is_refused() {
        assert_eq!(
            refused("Server\u{1BCA0}"),
            NameError::Spelling(Flaw::Invisible)
        );
    }

    #[test]
    fn server_with_interlinear_annotation_fff9_is_refused() {
        assert_eq!(
            refused("Server\u{FFF9}"),
            NameError::Spelling(Flaw::Invisible)
        );
        assert_eq!(refused("Max\u{FFFB}"), NameError::Spelling(Flaw::Invisible));
    }

    #[test]
    fn max_with_tag_characters_is_refused() {
        assert_eq!(
            refused("Max\u{E0001}"),
            NameError::Spelling(Flaw::Invisible)
        );
        assert_eq!(
            refused("Max\u{E0053}\u{E007F}"),
            NameError::Spelling(Flaw::Invisible)
        );
    }

    #[test]
    fn format_characters_that_are_not_default_ignorable_are_refused() {
        for c in [
            '\u{0600}',
            '\u{06DD}',
            '\u{070F}',
            '\u{08E2}',
            '\u{110BD}',
            '\u{13430}',
        ] {
            let name = format!("Max{c}");
            assert_eq!(
                refused(&name),
                NameError::Spelling(Flaw::Invisible),
                "U+{:04X}",
                u32::from(c)
            );
        }
    }

    #[test]
    fn every_default_ignorable_character_is_refused() {
        // The crate's identifier-type table names them independently of ours.
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            if c.identifier_type() == Some(IdentifierType::Default_Ignorable) {
                let name = format!("Max{c}");
                assert!(Name::parse(&name).is_err(), "U+{:04X}", u32::from(c));
            }
        }
    }

    #[test]
    fn unassigned_private_use_and_noncharacters_are_refused() {
        for c in ['\u{0378}', '\u{E000}', '\u{F8FF}', '\u{FFFF}', '\u{10FFFD}'] {
            let name = format!("Max{c}");
            assert_eq!(
                refused(&name),
                NameError::Spelling(Flaw::Unassigned),
                "U+{:04X}",
                u32::from(c)
            );
        }
    }

    #[test]
    fn blank_look_alikes_are_refused() {
        assert_eq!(
            refused("Max\u{2800}"),
            NameError::Spelling(Flaw::Whitespace)
        );
        assert_eq!(
            refused("Max\u{2028}x"),
            NameError::Spelling(Flaw::Whitespace)
        );
        assert_eq!(refused("Max\u{3164}"), NameError::Spelling(Flaw::Invisible));
    }

    #[test]
    fn cyrillic_dze_server_is_refused() {
        assert_eq!(refused("\u{405}erver"), NameError::LooksLikeServer);
        assert_eq!(refused("\u{455}erver"), NameError::LooksLikeServer);
    }

    #[test]
    fn fullwidth_server_is_refused() {
        assert_eq!(refused("Ｓｅｒｖｅｒ"), NameError::LooksLikeServer);
        assert_eq!(refused("ｓｅｒｖｅｒ"), NameError::LooksLikeServer);
    }

    #[test]
    fn math_bold_server_is_refused() {
        assert_eq!(refused("\u{1D412}erver"), NameError::LooksLikeServer);
        assert_eq!(refused("𝐒𝐞𝐫𝐯𝐞𝐫"), NameError::LooksLikeServer);
    }

    #[test]
    fn greek_and_cyrillic_letters_inside_server_are_refused() {
        // Latin with a Cyrillic е, and with a Greek ν.
        assert_eq!(refused("S\u{435}rver"), NameError::LooksLikeServer);
        assert_eq!(refused("Ser\u{3BD}er"), NameError::LooksLikeServer);
    }

    #[test]
    fn cherokee_server_is_refused() {
        // One script throughout, so only the skeleton catches it.
        assert_eq!(
            refused("\u{13DA}\u{13AC}\u{13A1}\u{13D9}\u{13AC}\u{13A1}"),
            NameError::LooksLikeServer
        );
    }

    #[test]
    fn cyrillic_em_max_is_refused() {
        assert_eq!(
            refused("\u{41C}ax"),
            NameError::Spelling(Flaw::MixedScripts)
        );
    }

    #[test]
    fn cyrillic_em_max_has_the_key_of_max() {
        assert_eq!(key_of("\u{41C}ax"), key("Max"));
    }

    #[test]
    fn all_cyrillic_max_collides_with_latin_max() {
        // М, А, Х in Cyrillic: one script, so allowed, but never beside MAX.
        assert_eq!(key("\u{41C}\u{410}\u{425}"), key("MAX"));
        assert_eq!(key("\u{41C}\u{410}\u{425}"), key("max"));
    }

    #[test]
    fn fullwidth_and_math_bold_max_collide_with_max() {
        assert_eq!(key("Ｍａｘ"), key("Max"));
        assert_eq!(key("\u{1D40C}ax"), key("Max"));
    }

    #[test]
    fn nfd_jose_collides_with_nfc_jose() {
        let nfd = Name::parse("Jose\u{301}").unwrap();
        let nfc = Name::parse("Jos\u{E9}").unwrap();
        assert_eq!(nfd.as_str(), "Jos\u{E9}", "kept in NFC");
        assert_eq!(nfd.key(), nfc.key());
        assert_eq!(nfd, nfc);
    }

    #[test]
    fn length_is_counted_in_nfc() {
        assert!(Name::parse(&"e\u{301}".repeat(32)).is_ok());
    }

    #[test]
    fn rn_collides_with_m_and_digits_with_letters() {
        assert_eq!(key("rnax"), key("Max"));
        assert_eq!(key("B0b"), key("Bob"));
        assert_eq!(key("Pau1"), key("Paul"));
        // The price of folding case after the skeleton: a capital I looks
        // like l, so these count as one name too.
        assert_eq!(key("Ali"), key("All"));
    }

    #[test]
    fn different_names_keep_different_keys() {
        for (a, b) in [
            ("Max", "Mac"),
            ("Bob", "Rob"),
            ("Dana", "Dama"),
            ("Zoë", "Zoe"),
            ("李雷", "李蕾"),
        ] {
            assert_ne!(key(a), key(b), "{a} / {b}");
        }
    }

    #[test]
    fn names_in_one_script_stay_allowed() {
        for name in [
            "Mahtab",
            "مهتاب",
            "Łukasz",
            "李雷",
            "Ольга",
            "Ελένη",
            "田中さん",
            "김민준",
            "Zoë",
            "José",
            "Max2",
            "max_power",
            "🦀",
            "Bob🦀",
        ] {
            assert_eq!(
                Name::parse(name).map(|n| n.as_str().to_string()),
                Ok(name.to_string())
            );
        }
    }

    #[test]
    fn latin_with_han_and_kana_or_hangul_is_allowed() {
        for name in ["Max李", "Maxさん", "Kim민준", "田中Max"] {
            assert!(Name::parse(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn latin_mixed_with_cyrillic_greek_or_arabic_is_refused() {
        for name in ["Maxим", "Maxα", "Maxب", "Ольгаα"] {
            assert_eq!(
                refused(name),
                NameError::Spelling(Flaw::MixedScripts),
                "{name}"
            );
        }
    }

    /// Latin, Greek and Cyrillic letters, full-width and mathematical ones.
    fn letters() -> impl Iterator<Item = char> {
        [
            0x41..0x7B,
            0xC0..0x250,
            0x370..0x400,
            0x400..0x530,
            0xFF21..0xFF5B,
            0x1D400..0x1D800,
        ]
        .into_iter()
        .flatten()
        .filter_map(char::from_u32)
        .filter(|c| c.is_alphabetic())
    }

    #[test]
    fn every_look_alike_letter_has_the_key_of_its_prototype() {
        for c in letters() {
            let typed = c.to_string();
            let prototype: String = skeleton(&typed).collect();
            assert_eq!(key_of(&typed), key_of(&prototype), "U+{:04X}", u32::from(c));
        }
    }

    #[test]
    fn names_differing_only_in_case_share_a_key_unless_the_cases_look_apart() {
        // Letters whose capital and small forms look like two different
        // Latin letters: here the look decides.
        let look_apart = "ÐðſΒβΗηΝνΣσςΥυΫϋΰΉήΎύБбГгЃѓ";
        let mut apart = Vec::new();
        let alphabets = [0x41..0x7B, 0xC0..0x180, 0x386..0x3CF, 0x400..0x460];
        for c in alphabets
            .into_iter()
            .flatten()
            .filter_map(char::from_u32)
            .filter(|c| c.is_alphabetic())
        {
            let (typed, upper, lower) = (
                c.to_string(),
                c.to_uppercase().to_string(),
                c.to_lowercase().to_string(),
            );
            let same = key_of(&typed) == key_of(&upper) && key_of(&typed) == key_of(&lower);
            let excepted = typed.chars().chain(upper.chars()).chain(lower.chars());
            if !same && !excepted.clone().any(|u| look_apart.contains(u)) {
                let keys = (key_of(&lower), key_of(&upper));
                apart.push(format!("U+{:04X} {c}: {keys:?}", u32::from(c)));
            }
        }
        assert!(apart.is_empty(), "{apart:#?}");
        assert_eq!(key("Наташа"), key("НАТАША"));
        assert_eq!(key("Наташа"), key("наташа"));
    }

    /// The key of Bob, which each look-alike below must not get past.
    fn bobs_key() -> String {
        key("Bob")
    }

    #[test]
    fn bob_with_a_combining_acute_u0301_is_refused() {
        assert_eq!(refused("Bob\u{301}"), NameError::Spelling(Flaw::LooseMark));
    }

    #[test]
    fn bob_with_a_combining_low_line_u0332_is_refused() {
        assert_eq!(refused("Bob\u{332}"), NameError::Spelling(Flaw::LooseMark));
    }

    #[test]
    fn bob_with_a_long_solidus_overlay_u0338_is_refused() {
        assert_eq!(refused("Bo\u{338}b"), NameError::Spelling(Flaw::LooseMark));
    }

    #[test]
    fn bob_with_a_short_stroke_overlay_u0335_is_refused() {
        assert_eq!(refused("B\u{335}ob"), NameError::Spelling(Flaw::LooseMark));
    }

    #[test]
    fn a_mark_of_another_script_on_a_latin_letter_is_refused() {
        // Kana voicing: Latin with kana is allowed, but not on a `b`.
        assert_eq!(refused("Bob\u{3099}"), NameError::Spelling(Flaw::LooseMark));
        assert_eq!(refused("\u{301}Bob"), NameError::Spelling(Flaw::LooseMark));
    }

    #[test]
    fn circled_b_bob_has_the_key_of_bob() {
        assert_eq!(key("\u{24B7}ob"), bobs_key());
        assert_eq!(key("\u{24D1}ob"), bobs_key());
    }

    #[test]
    fn negative_squared_b_bob_has_the_key_of_bob() {
        assert_eq!(key("\u{1F171}ob"), bobs_key());
        // Squared, negative circled and a regional indicator alike.
        for b in ['\u{1F131}', '\u{1F151}', '\u{1F1E7}'] {
            assert_eq!(key(&format!("{b}ob")), bobs_key(), "U+{:04X}", u32::from(b));
        }
    }

    #[test]
    fn server_with_a_long_stroke_overlay_u0336_is_refused() {
        assert!(Name::parse("S\u{336}erver").is_err());
    }

    #[test]
    fn server_with_an_accent_is_refused() {
        for name in [
            "S\u{E9}rver",
            "Se\u{301}rver",
            "S\u{E8}rv\u{EB}r",
            "\u{15A}erver",
        ] {
            assert_eq!(refused(name), NameError::LooksLikeServer, "{name}");
        }
    }

    #[test]
    fn server_with_punctuation_around_it_is_refused() {
        for name in [
            "Server.",
            "Server_",
            "Server-",
            "_Server_",
            ".Server",
            "(Server)",
            "S.e.r.v.e.r",
            "Server!",
            "[Server]",
            "Server\u{2026}",
            "Server\u{FF0E}",
        ] {
            assert_eq!(refused(name), NameError::LooksLikeServer, "{name}");
        }
    }

    #[test]
    fn enclosed_server_is_refused() {
        assert_eq!(refused("\u{24C8}erver"), NameError::LooksLikeServer);
        assert_eq!(refused("\u{1F182}erver"), NameError::LooksLikeServer);
    }

    #[test]
    fn names_that_only_contain_server_stay_allowed() {
        for name in ["Servers", "Server2", "ServerAdmin", "Observer", "Sever"] {
            assert!(Name::parse(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn a_name_made_of_replacement_characters_from_invalid_utf8_is_refused() {
        let from_the_wire = String::from_utf8_lossy(b"\xfe\xfe\xc3");
        assert_eq!(refused(&from_the_wire), NameError::Spelling(Flaw::NotUtf8));
        assert_eq!(refused("Bob\u{FFFD}"), NameError::Spelling(Flaw::NotUtf8));
    }

    #[test]
    fn names_with_composed_accents_and_marks_of_their_own_script_stay_allowed() {
        for (typed, shown) in [
            ("Jose\u{301}", "Jos\u{E9}"),
            ("Zoe\u{308}", "Zo\u{EB}"),
            ("Nguye\u{302}\u{303}n", "Nguy\u{1EC5}n"),
            (
                "\u{304B}\u{3099}\u{3063}\u{3053}\u{3046}",
                "\u{304C}\u{3063}\u{3053}\u{3046}",
            ),
            (
                "\u{645}\u{64F}\u{62D}\u{64E}\u{645}\u{64E}\u{651}\u{62F}",
                "\u{645}\u{64F}\u{62D}\u{64E}\u{645}\u{64E}\u{651}\u{62F}",
            ),
            (
                "\u{905}\u{928}\u{93F}\u{932}",
                "\u{905}\u{928}\u{93F}\u{932}",
            ),
            (
                "\u{E2A}\u{E21}\u{E28}\u{E31}\u{E01}\u{E14}\u{E34}\u{E4C}",
                "\u{E2A}\u{E21}\u{E28}\u{E31}\u{E01}\u{E14}\u{E34}\u{E4C}",
            ),
            ("Ελένη", "Ελένη"),
            ("李雷", "李雷"),
            ("Łukasz", "Łukasz"),
        ] {
            assert_eq!(
                Name::parse(typed).map(|n| n.as_str().to_string()),
                Ok(shown.to_string()),
                "{typed}"
            );
        }
    }
}
