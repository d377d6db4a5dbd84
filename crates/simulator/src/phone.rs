//! Phone numbers as the two providers write them: Meta's `to` is digits (a leading `+` is
//! tolerated), Twilio's `To`/`From` are `whatsapp:+E164` (or bare `+E164`). Everything is
//! compared as the digits of the E.164 form, the way WhatsApp writes a `wa_id`.

/// The digits of an E.164 number: 7 to 15 digits, not starting with 0.
fn e164_digits(s: &str) -> Option<String> {
    let ok = (7..=15).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) && !s.starts_with('0');
    ok.then(|| s.to_string())
}

/// Lenient, for numbers typed on the command line: `+58 412-123 4567`, `584121234567` and
/// `whatsapp:+584121234567` are the same number.
pub(crate) fn digits(s: &str) -> Option<String> {
    let s = s.trim();
    let s = s.strip_prefix("whatsapp:").unwrap_or(s);
    let s = s.strip_prefix('+').unwrap_or(s);
    let cleaned: String = s
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
        .collect();
    e164_digits(&cleaned)
}

/// Meta's `to`: digits, optionally after a `+`.
pub(crate) fn meta_to(s: &str) -> Option<String> {
    e164_digits(s.strip_prefix('+').unwrap_or(s))
}

/// Twilio's `To`/`From`: `whatsapp:+E164` or `+E164`.
pub(crate) fn twilio_address(s: &str) -> Option<String> {
    let s = s.strip_prefix("whatsapp:").unwrap_or(s);
    e164_digits(s.strip_prefix('+')?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings() {
        assert_eq!(digits(" +58 412-123 4567 ").as_deref(), Some("584121234567"));
        assert_eq!(digits("whatsapp:+584121234567").as_deref(), Some("584121234567"));
        assert_eq!(digits("+58abc"), None);
        assert_eq!(meta_to("16505551234").as_deref(), Some("16505551234"));
        assert_eq!(meta_to("+16505551234").as_deref(), Some("16505551234"));
        assert_eq!(meta_to("1650 555 1234"), None);
        assert_eq!(meta_to("0650555123"), None);
        assert_eq!(meta_to("123"), None);
        assert_eq!(twilio_address("whatsapp:+14155238886").as_deref(), Some("14155238886"));
        assert_eq!(twilio_address("+14155238886").as_deref(), Some("14155238886"));
        assert_eq!(twilio_address("whatsapp:14155238886"), None);
        assert_eq!(twilio_address("14155238886"), None);
    }
}
