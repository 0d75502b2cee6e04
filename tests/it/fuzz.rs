//! Property tests of every parser of untrusted bytes: safetensors files (a model, an adapter with
//! its config), pair files and caption pools, mutated and made up. Each case must end in a valid
//! result or a clear error: no panic, and no allocation beyond a bound set by the input's size
//! (measured by a counting allocator on the test's thread). A bounded number of cases runs in CI.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use proptest::prelude::*;
use safer_clip::data::{Duplicates, parse_caption_pool, parse_pairs};
use safer_clip::device::{Backend, device};
use safer_clip::lora::LoraConfig;
use safer_clip::model::ClipConfig;
use safer_clip::weights::{Checkpoint, load_adapters, load_clip, save_adapters};

use crate::common::fixtures;

struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn track(change: isize) {
    let _ = LIVE.try_with(|live| {
        live.set(live.get() + change);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(live.get())));
    });
}

// SAFETY: every call goes to the system allocator unchanged; only sizes are counted.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        track(layout.size() as isize);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        track(-(layout.size() as isize));
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        track(layout.size() as isize);
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        track(new_size as isize - layout.size() as isize);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// `f`'s result and the most memory it held at once on this thread beyond what was live before.
fn peak_allocation<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let start = LIVE.with(Cell::get);
    PEAK.with(|peak| peak.set(start));
    let result = f();
    (result, (PEAK.with(Cell::get) - start).max(0) as usize)
}

/// What a parser may hold for an input of `len` bytes: the bytes a few times over (decoding,
/// widening F16 to F32, building tensors), plus the tiny model itself.
fn bound(len: usize) -> usize {
    16 * len + (8 << 20)
}

const CASES: u32 = 96;

fn config() -> ClipConfig {
    ClipConfig::from_json(
        &std::fs::read_to_string(fixtures().join("tiny-quickgelu/config.json")).unwrap(),
    )
    .unwrap()
}

fn weights() -> Vec<u8> {
    std::fs::read(fixtures().join("tiny-quickgelu/model.safetensors")).unwrap()
}

/// Bytes of `valid` with edits: bytes overwritten, a cut, a splice from elsewhere in the file.
fn mutated(valid: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let len = valid.len();
    (
        proptest::collection::vec((0..len, any::<u8>()), 0..8),
        proptest::option::of(0..len),
        proptest::option::of((0..len, 0..len, 0..64usize)),
    )
        .prop_map(move |(writes, cut, splice)| {
            let mut bytes = valid.clone();
            for (at, byte) in writes {
                bytes[at] = byte;
            }
            if let Some((from, to, n)) = splice {
                let piece: Vec<u8> = bytes[from..(from + n).min(len)].to_vec();
                let to = to.min(bytes.len());
                bytes.splice(to..to, piece);
            }
            if let Some(cut) = cut {
                bytes.truncate(cut);
            }
            bytes
        })
}

/// The 8-byte header length and the header's JSON, edited as text: shapes, offsets and dtypes.
fn header_edits(valid: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let header_len = u64::from_le_bytes(valid[..8].try_into().unwrap()) as usize;
    let header = String::from_utf8(valid[8..8 + header_len].to_vec()).unwrap();
    let body = valid[8 + header_len..].to_vec();
    let numbers = [
        "0",
        "1",
        "7",
        "4294967296",
        "18446744073709551615",
        "1e300",
        "-1",
        "9223372036854775807",
    ];
    (
        proptest::sample::select(numbers.to_vec()),
        proptest::sample::select(vec!["F32", "F16", "BF16", "I8", "F64", "U8", "BOOL"]),
        0..header.len(),
    )
        .prop_map(move |(number, dtype, at)| {
            let mut edited = header.clone();
            // Replace the first number at or after `at`, and the first dtype after it.
            if let Some(start) = edited[at..]
                .find(|c: char| c.is_ascii_digit())
                .map(|i| i + at)
            {
                let end = edited[start..]
                    .find(|c: char| !c.is_ascii_digit())
                    .map_or(edited.len(), |i| i + start);
                edited.replace_range(start..end, number);
            }
            if let Some(pos) = edited.find("\"F32\"") {
                edited.replace_range(pos + 1..pos + 4, dtype);
            }
            let mut bytes = (edited.len() as u64).to_le_bytes().to_vec();
            bytes.extend_from_slice(edited.as_bytes());
            bytes.extend_from_slice(&body);
            bytes
        })
}

fn load_model(bytes: &[u8]) -> Result<(), String> {
    let device = device(Backend::Flex).unwrap();
    let checkpoint = Checkpoint::parse(bytes, &device).map_err(|e| e.to_string())?;
    load_clip(&config(), &checkpoint)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn adapter() -> Vec<u8> {
    let device = device(Backend::Flex).unwrap();
    let model = load_clip(&config(), &Checkpoint::parse(&weights(), &device).unwrap()).unwrap();
    let config = LoraConfig {
        rank: 4,
        ..LoraConfig::default()
    };
    safer_clip::device::block_on(save_adapters(
        &model.with_lora(&config, 1).unwrap(),
        &config,
        None,
        &[],
    ))
    .unwrap()
}

fn load_adapter(bytes: &[u8]) -> Result<(), String> {
    let device = device(Backend::Flex).unwrap();
    let model = load_clip(&config(), &Checkpoint::parse(&weights(), &device).unwrap()).unwrap();
    load_adapters(model, bytes)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// A parse either succeeds or fails with a message, within the allocation bound.
fn check(
    bytes: &[u8],
    parse: impl FnOnce(&[u8]) -> Result<(), String>,
) -> Result<(), TestCaseError> {
    let (result, peak) = peak_allocation(|| parse(bytes));
    prop_assert!(
        peak <= bound(bytes.len()),
        "{peak} bytes held for a {}-byte input",
        bytes.len()
    );
    if let Err(message) = result {
        prop_assert!(!message.trim().is_empty());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn model_files_with_random_edits(bytes in mutated(weights())) {
        check(&bytes, load_model)?;
    }

    #[test]
    fn model_files_with_edited_headers(bytes in header_edits(weights())) {
        check(&bytes, load_model)?;
    }

    #[test]
    fn made_up_bytes_as_a_model(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        check(&bytes, load_model)?;
    }

    #[test]
    fn adapter_files_with_random_edits(bytes in mutated(adapter())) {
        check(&bytes, load_adapter)?;
    }

    #[test]
    fn adapter_files_with_edited_headers(bytes in header_edits(adapter())) {
        check(&bytes, load_adapter)?;
    }

    #[test]
    fn pair_files(lines in proptest::collection::vec(pair_line(), 0..24)) {
        let text = lines.join("\n");
        check(text.as_bytes(), |bytes| {
            let text = std::str::from_utf8(bytes).unwrap();
            parse_pairs(text, Duplicates::Refuse).map(|_| ()).map_err(|e| e.to_string())
        })?;
    }

    #[test]
    fn caption_pools(text in "(\u{feff})?([a-z \t]{0,12}(\r)?\n){0,40}") {
        check(text.as_bytes(), |bytes| {
            let captions = parse_caption_pool(std::str::from_utf8(bytes).unwrap()).map_err(|e| e.to_string())?;
            assert!(captions.iter().all(|c| !c.trim().is_empty() && !c.contains('\u{feff}')), "{captions:?}");
            Ok(())
        })?;
    }
}

/// A line of a pair file: mostly well-formed, often not.
fn pair_line() -> impl Strategy<Value = String> {
    let caption = "[a-z ]{0,10}";
    prop_oneof![
        (caption, caption, proptest::option::of("[a-z]{1,6}")).prop_map(
            |(safe, unsafe_, category)| {
                serde_json::json!({"safe": safe, "unsafe": unsafe_, "category": category})
                    .to_string()
            }
        ),
        "\\{\"safe\": [0-9a-z\"]{0,8}(, \"unsafe\": \"[a-z]{0,5}\")?\\}",
        "[ -~]{0,30}",
        Just(String::new()),
    ]
}

#[test]
fn the_counting_allocator_sees_a_large_allocation() {
    let (_, peak) = peak_allocation(|| vec![0u8; 10 << 20]);
    assert!(peak >= 10 << 20, "{peak}");
}

#[test]
fn the_mutations_start_from_files_that_load() {
    assert_eq!(load_model(&weights()), Ok(()));
    assert_eq!(load_adapter(&adapter()), Ok(()));
}
