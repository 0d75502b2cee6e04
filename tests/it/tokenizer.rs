//! The tokenizer against `CLIPTokenizerFast` (ids recorded by `scripts/make_fixtures.py`).

use crate::common::{fixtures, shared};
use safer_clip::tokenizer::{CONTEXT_LENGTH, ClipTokenizer};
use serde::Deserialize;

fn tokenizer() -> ClipTokenizer {
    let dir = shared("tokenizer tests");
    let json = std::fs::read(dir.join("assets/clip-vit-base-patch32/tokenizer.json")).unwrap();
    ClipTokenizer::from_bytes(&json).unwrap()
}

#[test]
#[ignore = "needs ../shared"]
fn hello_world_gives_the_published_ids() {
    let tokenizer = tokenizer();
    assert_eq!(
        tokenizer.encode("Hello World!").unwrap(),
        [49406, 3306, 1002, 256, 49407]
    );
}

#[derive(Deserialize)]
struct Case {
    text: String,
    ids: Vec<u32>,
}

#[test]
#[ignore = "needs ../shared"]
fn agrees_with_transformers_on_varied_text() {
    let tokenizer = tokenizer();
    let json = std::fs::read_to_string(fixtures().join("tokenizer_cases.json")).unwrap();
    let cases: Vec<Case> = serde_json::from_str(&json).unwrap();
    assert!(cases.len() >= 300);
    let mismatches: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            let ids = tokenizer.encode(&case.text).unwrap();
            (ids != case.ids).then(|| format!("{:?}: {ids:?} != {:?}", case.text, case.ids))
        })
        .collect();
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

#[test]
#[ignore = "needs ../shared"]
fn huge_text_is_truncated_keeping_the_end_token() {
    let tokenizer = tokenizer();
    let sentence = "a photo of a dog playing in the snow near a red house. ";
    let huge = sentence.repeat(200_000); // about 11 MB
    let started = std::time::Instant::now();
    let ids = tokenizer.encode(&huge).unwrap();
    assert_eq!(ids.len(), CONTEXT_LENGTH);
    assert_eq!(ids[0], 49406);
    assert_eq!(ids[CONTEXT_LENGTH - 1], 49407);
    assert_eq!(ids, tokenizer.encode(&sentence.repeat(20)).unwrap());
    println!("11 MB of text tokenized in {:?}", started.elapsed());
}

#[test]
#[ignore = "needs ../shared"]
fn one_giant_word_is_accepted() {
    let tokenizer = tokenizer();
    let ids = tokenizer.encode(&"z".repeat(1_000_000)).unwrap();
    assert_eq!(ids.len(), CONTEXT_LENGTH);
    assert_eq!(ids[CONTEXT_LENGTH - 1], 49407);
}

#[test]
#[ignore = "needs ../shared"]
fn batches_pad_with_the_end_token() {
    let tokenizer = tokenizer();
    let batch = tokenizer
        .encode_batch(&["a cat", "a photo of a cat"])
        .unwrap();
    assert_eq!(batch.seq_len(), 7);
    assert_eq!(
        batch.row(0),
        &[49406, 320, 2368, 49407, 49407, 49407, 49407]
    );
}

#[test]
fn malformed_tokenizer_json_is_reported() {
    for bytes in [&b""[..], b"{}", b"not json", b"{\"model\": 3}"] {
        let err = ClipTokenizer::from_bytes(bytes).map(|_| ()).unwrap_err();
        assert!(err.to_string().starts_with("tokenizer:"), "{err}");
    }
}
