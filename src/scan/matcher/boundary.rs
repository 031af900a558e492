//! Word characters and phrase boundaries.

/// Scripts written without spaces between words: no boundary check there.
fn is_unspaced_script(c: char) -> bool {
    matches!(u32::from(c),
        0x0E00..=0x0EFF      // Thai, Lao
        | 0x1000..=0x109F    // Myanmar
        | 0x1780..=0x17FF    // Khmer
        | 0x3040..=0x30FF    // Hiragana, Katakana
        | 0x31F0..=0x31FF    // Katakana phonetic extensions
        | 0x3400..=0x4DBF    // CJK extension A
        | 0x4E00..=0x9FFF    // CJK unified ideographs
        | 0xA000..=0xA4CF    // Yi
        | 0xF900..=0xFAFF    // CJK compatibility ideographs
        | 0xFF66..=0xFF9F    // halfwidth Katakana
        | 0x20000..=0x3FFFF) // CJK extensions B..
}

/// Whether `c` is a word character for phrase boundaries.
pub(super) fn is_word_char(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphanumeric()
    } else {
        c.is_alphanumeric() && !is_unspaced_script(c)
    }
}

/// Whether the character ending at byte `pos` (if any) is not a word char.
#[inline]
pub(super) fn boundary_before(text: &str, pos: usize) -> bool {
    match text.as_bytes().get(pos.wrapping_sub(1)) {
        None => true,
        Some(&b) if b < 0x80 => !b.is_ascii_alphanumeric(),
        Some(_) => text
            .get(..pos)
            .and_then(|s| s.chars().next_back())
            .is_none_or(|c| !is_word_char(c)),
    }
}

/// Whether the character starting at byte `pos` (if any) is not a word char.
#[inline]
pub(super) fn boundary_after(text: &str, pos: usize) -> bool {
    match text.as_bytes().get(pos) {
        None => true,
        Some(&b) if b < 0x80 => !b.is_ascii_alphanumeric(),
        Some(_) => text
            .get(pos..)
            .and_then(|s| s.chars().next())
            .is_none_or(|c| !is_word_char(c)),
    }
}
