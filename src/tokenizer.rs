//! CLIP's byte-level BPE tokenizer, driven by the checkpoint's `tokenizer.json` through the
//! `tokenizers` crate, with the truncation and padding that `CLIPTokenizerFast` applies.

use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use crate::error::{Error, Result};

/// CLIP's context length: start token, up to 75 text tokens, end token.
pub const CONTEXT_LENGTH: usize = 77;
const END_OF_TEXT: &str = "<|endoftext|>";

/// Token ids of several texts, padded to the longest one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenBatch {
    ids: Vec<u32>,
    batch_size: usize,
    seq_len: usize,
}

impl TokenBatch {
    /// Pads each sequence to the longest with `pad_id` (CLIP pads with its end token).
    pub fn from_sequences(sequences: &[Vec<u32>], pad_id: u32) -> Self {
        let seq_len = sequences.iter().map(Vec::len).max().unwrap_or(0);
        let mut ids = Vec::with_capacity(sequences.len() * seq_len);
        for sequence in sequences {
            ids.extend_from_slice(sequence);
            ids.resize(ids.len() + seq_len - sequence.len(), pad_id);
        }
        Self {
            ids,
            batch_size: sequences.len(),
            seq_len,
        }
    }

    pub fn ids(&self) -> &[u32] {
        &self.ids
    }

    pub fn row(&self, index: usize) -> &[u32] {
        &self.ids[index * self.seq_len..(index + 1) * self.seq_len]
    }

    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    pub fn seq_len(&self) -> usize {
        self.seq_len
    }
}

#[derive(Clone)]
pub struct ClipTokenizer {
    inner: Tokenizer,
    pad_id: u32,
}

impl ClipTokenizer {
    /// Builds the tokenizer from the bytes of a `tokenizer.json`.
    pub fn from_bytes(json: &[u8]) -> Result<Self> {
        let mut inner = Tokenizer::from_bytes(json)
            .map_err(|e| Error::Tokenizer(format!("cannot read tokenizer.json: {e}")))?;
        let pad_id = inner.token_to_id(END_OF_TEXT).ok_or_else(|| {
            Error::Tokenizer(format!("tokenizer.json has no `{END_OF_TEXT}` token"))
        })?;
        inner
            .with_truncation(Some(TruncationParams {
                max_length: CONTEXT_LENGTH,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: TruncationDirection::Right,
            }))
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        inner.with_padding(None);
        Ok(Self { inner, pad_id })
    }

    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    /// Start token, text tokens, end token; at most [`CONTEXT_LENGTH`] ids, the end token kept.
    ///
    /// Text of any length is accepted: only a prefix that surely covers the first 75 tokens is
    /// tokenized, so a megabyte of text costs no more than a sentence.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let mut budget = 4096;
        loop {
            let (prefix, was_cut) = prefix_at_whitespace(text, budget);
            let ids = self.encode_whole(prefix)?;
            if !was_cut || ids.len() >= CONTEXT_LENGTH {
                return Ok(ids);
            }
            budget *= 4;
        }
    }

    pub fn encode_batch<S: AsRef<str>>(&self, texts: &[S]) -> Result<TokenBatch> {
        let sequences = texts
            .iter()
            .map(|text| self.encode(text.as_ref()))
            .collect::<Result<Vec<_>>>()?;
        Ok(TokenBatch::from_sequences(&sequences, self.pad_id))
    }

    fn encode_whole(&self, text: &str) -> Result<Vec<u32>> {
        let encoding = self
            .inner
            .encode(text, true)
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        Ok(encoding.get_ids().to_vec())
    }
}

/// The longest prefix of at most about `budget` bytes that ends at whitespace, so that every
/// word in it is tokenized exactly as in the whole text. A single word longer than the budget
/// is cut at a character boundary.
fn prefix_at_whitespace(text: &str, budget: usize) -> (&str, bool) {
    if text.len() <= budget {
        return (text, false);
    }
    let mut end = budget;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let cut = text[..end]
        .rfind(char::is_whitespace)
        .filter(|&i| i > 0)
        .unwrap_or(end);
    (&text[..cut], true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_pad_to_the_longest_sequence() {
        let batch = TokenBatch::from_sequences(&[vec![1, 2, 3], vec![1, 9]], 7);
        assert_eq!(batch.seq_len(), 3);
        assert_eq!(batch.row(1), &[1, 9, 7]);
    }

    #[test]
    fn prefixes_end_at_whitespace_and_respect_char_boundaries() {
        assert_eq!(prefix_at_whitespace("short", 10), ("short", false));
        assert_eq!(prefix_at_whitespace("one two three", 9), ("one two", true));
        assert_eq!(prefix_at_whitespace("ééééé", 3), ("é", true));
    }
}
