//! A pool of safe captions: a UTF-8 text file, one caption per line. A caption's index is its
//! 0-based line number, so blank lines are refused rather than silently skipped.

use crate::error::{Error, Result};

pub fn parse_caption_pool(text: &str) -> Result<Vec<String>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let captions: Vec<String> = text
        .lines()
        .map(|line| line.strip_suffix('\r').unwrap_or(line).to_string())
        .collect();
    check_captions(&captions)?;
    Ok(captions)
}

/// A pool must hold captions, none of them blank (caption `i` is line `i + 1` of its file).
pub fn check_captions(captions: &[String]) -> Result<()> {
    if captions.is_empty() {
        return Err(Error::Input("the caption pool is empty".into()));
    }
    if let Some(blank) = captions.iter().position(|c| c.trim().is_empty()) {
        return Err(Error::Input(format!(
            "line {} of the caption pool is blank; every line must hold a caption",
            blank + 1
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_captions_and_crlf_and_a_bom_are_accepted() {
        assert_eq!(
            parse_caption_pool("a cat\r\na dog\n").unwrap(),
            ["a cat", "a dog"]
        );
        assert_eq!(parse_caption_pool("\u{feff}a cat\n").unwrap(), ["a cat"]);
    }

    #[test]
    fn blank_lines_and_empty_pools_are_refused_with_their_line() {
        assert!(
            parse_caption_pool("a\n\nb")
                .unwrap_err()
                .to_string()
                .contains("line 2")
        );
        assert!(
            parse_caption_pool("")
                .unwrap_err()
                .to_string()
                .contains("empty")
        );
    }
}
