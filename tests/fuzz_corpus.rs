//! The fuzz targets' corpus, replayed on the stable toolchain in every test
//! run, plus a deterministic mutation pass over it: no input panics the
//! parser, the token verifier or the state machine (SPEC §5.8). Longer,
//! coverage-guided runs use cargo-fuzz (docs/security.md).

use std::path::Path;

use circlekeeper::auth::TokenKeys;
use circlekeeper::circle::Role;
use circlekeeper::fuzzing;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut inputs: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| std::fs::read(entry.expect("entry").path()).expect("read"))
        .collect();
    assert!(!inputs.is_empty(), "no corpus for {target}");
    inputs.sort();
    inputs
}

/// Bit flips, byte changes, insertions, deletions and splices of corpus inputs.
fn mutate(rng: &mut StdRng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..rng.random_range(1..6) {
        let at = if out.is_empty() {
            0
        } else {
            rng.random_range(0..out.len())
        };
        match rng.random_range(0..6) {
            0 if !out.is_empty() => out[at] ^= 1 << rng.random_range(0..8),
            1 if !out.is_empty() => {
                const INTERESTING: &[u8] = b"{}[]\",:\\0-9aeE\x00\xff";
                out[at] = INTERESTING[rng.random_range(0..INTERESTING.len())];
            }
            2 => out.insert(at, rng.random()),
            3 if !out.is_empty() => {
                out.remove(at);
            }
            4 if !other.is_empty() => {
                let from = rng.random_range(0..other.len());
                let len = rng.random_range(0..=(other.len() - from).min(64));
                out.splice(at..at, other[from..from + len].iter().copied());
            }
            _ => out.truncate(at),
        }
    }
    out
}

fn replay_and_mutate(target: &str, run: fn(&[u8]), mutations: usize) {
    let inputs = corpus(target);
    for input in &inputs {
        run(input);
    }
    let mut rng = StdRng::seed_from_u64(0x5eed_c1c1e);
    for _ in 0..mutations {
        let a = &inputs[rng.random_range(0..inputs.len())];
        let b = &inputs[rng.random_range(0..inputs.len())];
        run(&mutate(&mut rng, a, b));
    }
}

#[test]
fn signalling_frames_never_panic() {
    replay_and_mutate("signalling_frame", fuzzing::signalling_frame, 20_000);
}

#[test]
fn invitation_tokens_never_panic() {
    // A real token of the fuzzing key joins the corpus, so mutations start from valid input.
    let keys = TokenKeys::from_secret(
        b"fuzzing-secret-fuzzing-secret-32",
        "circlekeeper",
        "circlekeeper-join",
    )
    .expect("keys");
    let (token, _) = keys
        .mint(
            "room",
            2,
            Role::Participant,
            None,
            "Ana",
            1_800_000_000,
            3600,
        )
        .expect("mint");
    fuzzing::invitation_token(token.as_bytes());
    replay_and_mutate("invitation_token", fuzzing::invitation_token, 20_000);
}

#[test]
fn room_input_sequences_never_panic() {
    replay_and_mutate("room_inputs", fuzzing::room_inputs, 2_000);
}
