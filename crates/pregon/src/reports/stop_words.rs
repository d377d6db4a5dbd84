//! Stop words: a reply that is only `STOP`, `BAJA`, `CANCELAR`, `UNSUBSCRIBE` (or the
//! configured list) opts the number out. Matching ignores case, accents, surrounding spaces
//! and punctuation (`Baja.`, ` stop! `, `cancelár`), but not other words around it
//! (`no me des de baja` is not a stop).

use std::collections::HashSet;

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// The configured stop words, folded.
#[derive(Debug, Clone, Default)]
pub struct StopWords(HashSet<String>);

/// Upper case, without accents, surrounding punctuation or repeated spaces.
pub fn fold(text: &str) -> String {
    let trimmed =
        text.trim_matches(|c: char| c.is_whitespace() || (c.is_ascii_punctuation() || "¡¿«»“”‘’…".contains(c)));
    let words: Vec<&str> = trimmed.split_whitespace().collect();
    words
        .join(" ")
        .nfd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_uppercase)
        .collect()
}

impl StopWords {
    pub fn new(words: &[String]) -> Self {
        StopWords(words.iter().map(|w| fold(w)).filter(|w| !w.is_empty()).collect())
    }

    /// The stop word `text` is, folded; `None` when it is anything else.
    pub fn find(&self, text: &str) -> Option<String> {
        if text.len() > 200 {
            return None;
        }
        let folded = fold(text);
        self.0.contains(&folded).then_some(folded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> StopWords {
        StopWords::new(&crate::config::ReportConfig::default().stop_words)
    }

    #[test]
    fn matches_ignore_case_accents_spaces_and_punctuation() {
        let words = defaults();
        for text in [
            "STOP",
            "stop",
            " Stop! ",
            "baja",
            "Baja.",
            "BAJA\n",
            "cancelar",
            "Cancelár",
            "CÁNCELAR",
            "¡Baja!",
            "unsubscribe",
        ] {
            assert!(words.find(text).is_some(), "{text:?} is a stop word");
        }
        assert_eq!(words.find("  bája ").as_deref(), Some("BAJA"));
    }

    #[test]
    fn other_texts_are_not_stop_words() {
        let words = defaults();
        for text in ["", "hola", "stop please", "no me des de baja", "STOPP", "bajar", "¿?"] {
            assert!(words.find(text).is_none(), "{text:?} is not a stop word");
        }
    }

    #[test]
    fn the_list_is_configurable() {
        let words = StopWords::new(&["Parar".into(), "no más".into()]);
        assert!(words.find("PARAR").is_some());
        assert!(words.find("No  mas").is_some());
        assert!(words.find("stop").is_none());
    }
}
