//! The character classes that the name rules and the chat-text rules share:
//! what shows nothing, what reorders a line, what breaks one and what looks
//! like a space. The `unicode-security` crate holds the confusable and
//! script data but keeps these tables private, so the few we need are
//! written out here (Unicode 16; each list is short and changes rarely).

/// Default_Ignorable_Code_Point (DerivedCoreProperties.txt): characters a
/// renderer shows as nothing at all when it does not support them, so they
/// hide inside text: zero-width spaces and joiners, variation selectors,
/// tag characters, Hangul fillers, invisible operators.
pub fn is_default_ignorable(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}'..='\u{1160}'
        | '\u{17B4}'..='\u{17B5}' | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{3164}'
        | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}' | '\u{FFF0}'..='\u{FFF8}'
        | '\u{1BCA0}'..='\u{1BCA3}' | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E0FFF}')
}

/// General_Category = Cf (format characters): invisible characters that
/// change how their neighbours are drawn, such as U+FFF9 (an interlinear
/// annotation), U+0600 (an Arabic number sign spanning the digits after it)
/// or U+13430 (an Egyptian hieroglyph joiner). Most are also default
/// ignorable; this is the whole category.
pub fn is_format(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{0600}'..='\u{0605}' | '\u{061C}' | '\u{06DD}' | '\u{070F}'
        | '\u{0890}'..='\u{0891}' | '\u{08E2}' | '\u{180E}' | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}'
        | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}' | '\u{110BD}' | '\u{110CD}'
        | '\u{13430}'..='\u{1343F}' | '\u{1BCA0}'..='\u{1BCA3}' | '\u{1D173}'..='\u{1D17A}'
        | '\u{E0001}' | '\u{E0020}'..='\u{E007F}')
}

/// Bidi_Control (PropList.txt): the marks, embeddings, overrides and
/// isolates that tell a bidi-aware terminal to reorder the text after them.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// LINE SEPARATOR and PARAGRAPH SEPARATOR: not line ends for our framing,
/// but bots, log readers and editors split a line at them. (The other line
/// ends, LF, VT, FF, CR and NEL, are control characters.)
pub fn is_line_separator(c: char) -> bool {
    matches!(c, '\u{2028}' | '\u{2029}')
}

/// A character drawn as empty space: Unicode White_Space, and the few
/// letters and symbols that look exactly like it (the Braille blank and the
/// Hangul fillers, favourites for "invisible" names elsewhere).
pub fn is_blank(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '\u{2800}' | '\u{3164}' | '\u{FFA0}' | '\u{115F}' | '\u{1160}'
        )
}

/// Letters and digits drawn in a circle, a square or parentheses: the
/// Enclosed Alphanumerics (U+2460–U+24FF) and their supplement
/// (U+1F100–U+1F1FF, with the regional indicators). A terminal draws `Ⓑ`
/// and `🅱` as a B in a frame, so `Ⓑob` reads as `Bob`.
pub fn is_enclosed_alphanumeric(c: char) -> bool {
    matches!(c, '\u{2460}'..='\u{24FF}' | '\u{1F100}'..='\u{1F1FF}')
}

/// What an enclosed letter or number shows, pushed onto `out`: its
/// compatibility decomposition where it has one (`Ⓑ` → `B`, `🄱` → `B`,
/// `⑫` → `12`, `⒝` → `(b)`), and for the negative circled and squared
/// letters and the regional indicators, which have none, their capital
/// letter (`🅑`, `🅱`, `🇧` → `B`). Anything else is pushed as it is.
pub fn push_unenclosed(c: char, out: &mut String) {
    let first = match c {
        '\u{1F150}'..='\u{1F169}' => '\u{1F150}',
        '\u{1F170}'..='\u{1F189}' => '\u{1F170}',
        '\u{1F1E6}'..='\u{1F1FF}' => '\u{1F1E6}',
        c if !is_enclosed_alphanumeric(c) => {
            out.push(c);
            return;
        }
        _ => {
            unicode_normalization::char::decompose_compatible(c, |d| out.push(d));
            return;
        }
    };
    let letter = u32::from('A') + (u32::from(c) - u32::from(first));
    out.extend(char::from_u32(letter));
}

#[cfg(test)]
mod tests {
    use super::*;
    use unicode_security::general_security_profile::IdentifierType;
    use unicode_security::GeneralSecurityProfile;

    #[test]
    fn default_ignorables_agree_with_the_identifier_type_table() {
        // The crate's table of identifier types marks every assigned
        // default-ignorable character; ours must hold each of them.
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            if c.identifier_type() == Some(IdentifierType::Default_Ignorable) {
                assert!(is_default_ignorable(c), "U+{:04X}", u32::from(c));
            }
        }
    }

    #[test]
    fn bidi_controls_and_most_format_characters_are_default_ignorable() {
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            if is_bidi_control(c) {
                assert!(
                    is_format(c) && is_default_ignorable(c),
                    "U+{:04X}",
                    u32::from(c)
                );
            }
        }
        assert!(is_format('\u{0600}') && !is_default_ignorable('\u{0600}'));
        assert!(is_default_ignorable('\u{FE0F}') && !is_format('\u{FE0F}'));
    }

    fn unenclosed(text: &str) -> String {
        let mut out = String::new();
        for c in text.chars() {
            push_unenclosed(c, &mut out);
        }
        out
    }

    #[test]
    fn enclosed_letters_show_their_letter() {
        // Circled, squared, negative circled, negative squared, regional
        // indicator; parenthesized keeps its parentheses.
        for b in [
            '\u{24B7}',
            '\u{1F131}',
            '\u{1F151}',
            '\u{1F171}',
            '\u{1F1E7}',
        ] {
            assert!(is_enclosed_alphanumeric(b));
            assert_eq!(unenclosed(&b.to_string()), "B", "U+{:04X}", u32::from(b));
        }
        assert_eq!(unenclosed("\u{24D1}\u{249D}\u{246B}"), "b(b)12");
        assert_eq!(unenclosed("\u{1F169}\u{1F189}\u{1F1FF}"), "ZZZ");
        assert_eq!(unenclosed("Bob é ﬁ ²"), "Bob é ﬁ ²");
    }

    #[test]
    fn blanks_include_whitespace_and_look_alikes_but_not_zero_width() {
        for c in [
            ' ', '\u{A0}', '\u{3000}', '\u{2003}', '\u{2800}', '\u{3164}',
        ] {
            assert!(is_blank(c), "U+{:04X}", u32::from(c));
        }
        for c in ['a', '\u{200B}', '\u{FE0F}', '_'] {
            assert!(!is_blank(c), "U+{:04X}", u32::from(c));
        }
    }
}
