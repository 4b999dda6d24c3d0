//! Hand-written scanners that find and mask e-mail addresses and phone
//! numbers in a string.
//!
//! Why not a regex crate: the two patterns are simple, a scanner over chars
//! runs in one linear pass with no backtracking or compile step, keeps the
//! component small (a regex engine adds hundreds of KB to every plugin) and
//! states the edge cases it handles (dates, ids, already-masked text) in
//! plain code that the tests below pin down.

/// Fewest digits a phone number has (local numbers with separators).
const MIN_PHONE_DIGITS: usize = 7;

/// Fewest digits a bare run of digits needs to count as a phone number
/// (no `+`, no separators): shorter runs are more often ids or amounts.
const MIN_BARE_PHONE_DIGITS: usize = 10;

/// Most digits a phone number has (E.164).
const MAX_PHONE_DIGITS: usize = 15;

/// Digits of a phone number left visible at its end.
const VISIBLE_PHONE_DIGITS: usize = 2;

/// Characters of an e-mail's local part (before `@`) that the scanner
/// recognises: the usual unquoted ones.
fn is_local_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '%' | '+' | '-')
}

/// Characters of an e-mail's domain.
fn is_domain_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-')
}

/// Masks e-mail addresses: `jane.doe@example.com` → `j***@example.com`.
/// A masked address is not matched again, so masking twice changes nothing.
pub fn mask_emails(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    // Chars before `copied` are already in `out`.
    let mut copied = 0;
    for at in 0..chars.len() {
        if chars[at] != '@' || at < copied {
            continue;
        }
        let mut start = at;
        while start > copied && is_local_char(chars[start - 1]) {
            start -= 1;
        }
        let mut end = at + 1;
        while end < chars.len() && is_domain_char(chars[end]) {
            end += 1;
        }
        // A sentence may end right after the address.
        while end > at + 1 && matches!(chars[end - 1], '.' | '-') {
            end -= 1;
        }
        let domain: String = chars[at + 1..end].iter().collect();
        let valid_domain =
            domain.contains('.') && !domain.starts_with(['.', '-']) && !domain.contains("..");
        if start == at || !valid_domain {
            continue;
        }
        out.extend(&chars[copied..start]);
        out.push(chars[start]);
        out.push_str("***@");
        out.push_str(&domain);
        copied = end;
    }
    out.extend(&chars[copied..]);
    out
}

/// Separators allowed between the digits of a phone number.
fn is_phone_separator(c: char) -> bool {
    matches!(c, ' ' | '-' | '.' | '(' | ')')
}

/// Masks phone numbers, every digit but the last two:
/// `+254 712 345 678` → `+*** *** *** *78`.
///
/// A phone number is a run of digits and single separators (space, `-`,
/// `.`, parentheses), optionally after a `+`, with 7 to 15 digits (10 to 15
/// when it is bare digits), that does not touch a letter, digit or
/// `-`/`.`/`_`/`:`/`/` on either side (so ids like `IE-4486-7781-22`, times,
/// hashes and URLs are left alone; a full stop or comma may end it), and that is not an ISO date
/// (`2026-11-23`). Masked digits become `*`, so masking twice changes
/// nothing.
pub fn mask_phones(text: &str) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let starts_number = chars[i].is_ascii_digit()
            || (matches!(chars[i], '+' | '(')
                && chars
                    .get(i + 1)
                    .is_some_and(|c| c.is_ascii_digit() || *c == '('));
        if !starts_number || (i > 0 && touches(chars[i - 1])) {
            i += 1;
            continue;
        }
        let end = phone_run_end(&chars, i);
        if is_phone(&chars[i..end]) && ends_cleanly(&chars, end) {
            mask_digits(&mut chars[i..end]);
        }
        i = end.max(i + 1);
    }
    chars.into_iter().collect()
}

/// Whether `c` next to a run of digits makes it part of a word, id, time,
/// hash or path rather than a phone number.
fn touches(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '-' | '.' | '_' | ':' | '/' | '@' | '*' | '+')
}

/// Whether the char at `end` (just after a run) leaves the run a number of
/// its own: the end of the text, or anything that does not [`touch`](touches)
/// it — except that punctuation ending a sentence or clause (`.`, `,`, `:`,
/// `;`) is fine when the text ends or a space follows.
fn ends_cleanly(chars: &[char], end: usize) -> bool {
    match chars.get(end) {
        None => true,
        Some('.' | ',' | ':' | ';') => chars.get(end + 1).is_none_or(|c| c.is_whitespace()),
        Some(c) => !touches(*c),
    }
}

/// The end of the candidate run starting at `start`: digits and single
/// separators, ending on a digit or `)`.
fn phone_run_end(chars: &[char], start: usize) -> usize {
    let mut end = start;
    let mut last_good = start;
    let mut i = start;
    if chars[i] == '+' {
        i += 1;
    }
    let mut previous_separator = false;
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_digit() || c == ')' {
            previous_separator = false;
            last_good = i + 1;
        } else if is_phone_separator(c) && (!previous_separator || c == '(' || chars[i - 1] == ')')
        {
            previous_separator = true;
        } else {
            break;
        }
        i += 1;
        end = last_good;
    }
    end
}

/// Whether the run `run` (from [`phone_run_end`]) is a phone number.
fn is_phone(run: &[char]) -> bool {
    let digits = run.iter().filter(|c| c.is_ascii_digit()).count();
    let bare = run.iter().all(char::is_ascii_digit);
    let min = if bare {
        MIN_BARE_PHONE_DIGITS
    } else {
        MIN_PHONE_DIGITS
    };
    (min..=MAX_PHONE_DIGITS).contains(&digits) && !is_iso_date(run)
}

/// `dddd-dd-dd`.
fn is_iso_date(run: &[char]) -> bool {
    let shape: String = run
        .iter()
        .map(|c| if c.is_ascii_digit() { 'd' } else { *c })
        .collect();
    shape == "dddd-dd-dd"
}

/// Replaces every digit of `run` but the last [`VISIBLE_PHONE_DIGITS`] by `*`.
fn mask_digits(run: &mut [char]) {
    let digits = run.iter().filter(|c| c.is_ascii_digit()).count();
    let mut to_mask = digits.saturating_sub(VISIBLE_PHONE_DIGITS);
    for c in run.iter_mut() {
        if to_mask == 0 {
            break;
        }
        if c.is_ascii_digit() {
            *c = '*';
            to_mask -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_emails() {
        assert_eq!(mask_emails("jane.doe@example.com"), "j***@example.com");
        assert_eq!(
            mask_emails("write to jane.doe@example.com or bob+x@mail.example.co.ke."),
            "write to j***@example.com or b***@mail.example.co.ke."
        );
        assert_eq!(mask_emails("<a@b.io>"), "<a***@b.io>");
    }

    #[test]
    fn leaves_what_is_not_an_email() {
        for text in [
            "@home",
            "user@localhost",
            "a@.com",
            "x@y..z",
            "no at sign",
            "@@",
            "a@",
        ] {
            assert_eq!(mask_emails(text), text);
        }
    }

    #[test]
    fn masking_emails_twice_changes_nothing() {
        let once = mask_emails("jane@example.com, joe@example.org");
        assert_eq!(once, "j***@example.com, j***@example.org");
        assert_eq!(mask_emails(&once), once);
    }

    #[test]
    fn masks_phones() {
        assert_eq!(mask_phones("+254 712 345 678"), "+*** *** *** *78");
        assert_eq!(mask_phones("call 0712345678 now"), "call ********78 now");
        assert_eq!(mask_phones("(555) 123-4567"), "(***) ***-**67");
        assert_eq!(mask_phones("555.123.4567"), "***.***.**67");
        assert_eq!(
            mask_phones("tel: +44 20 7946 0958."),
            "tel: +** ** **** **58."
        );
    }

    #[test]
    fn leaves_what_is_not_a_phone() {
        for text in [
            "2026-11-23T11:09:12Z",
            "on 2026-11-23 at noon",
            "order IE-4486",
            "IE-4486-7781-22",
            "id ORD-1234567890",
            "1234567",
            "amount 1,234,567.00",
            "v1.2.3",
            "sha 5f3a9b1234567890",
            "https://example.com/12345678901",
            "12 apples",
            "0123456789012345678",
        ] {
            assert_eq!(mask_phones(text), text, "{text}");
        }
    }

    #[test]
    fn masking_phones_twice_changes_nothing() {
        let once = mask_phones("+254 712 345 678 and 0712345678");
        assert_eq!(mask_phones(&once), once);
    }

    #[test]
    fn handles_non_ascii_text() {
        assert_eq!(mask_emails("é jane@example.com ü"), "é j***@example.com ü");
        assert_eq!(mask_phones("☎ 0712345678 ✓"), "☎ ********78 ✓");
    }
}
