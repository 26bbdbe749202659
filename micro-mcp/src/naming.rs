//! Tool names: `<service>_<Endpoint>` made safe for the clients that only
//! accept `^[a-zA-Z0-9_-]{1,64}$`.

use std::collections::{BTreeMap, BTreeSet};

/// The longest name clients accept.
pub const MAX_NAME: usize = 64;

/// Hex digits of the hash suffix.
const HASH_DIGITS: usize = 8;

/// The tool name of every `(service, endpoint)` pair, in the same order.
///
/// A name is `<service>_<Endpoint>` with every character outside
/// `[a-zA-Z0-9_-]` (dots, most of all) turned into `_`. A name over
/// [`MAX_NAME`] characters keeps its head and ends with `_` and a stable
/// hash of the service and endpoint. When two pairs come out the same, the
/// first in (service, endpoint) order keeps the plain name and the others
/// get the hash suffix, whatever order the pairs came in, so a name does not
/// change between listings.
///
/// # Examples
///
/// ```
/// let names = micro_mcp::tool_names(&[("com.example.srv.greeter", "Greeter.Hello")]);
/// assert_eq!(names, ["com_example_srv_greeter_Greeter_Hello"]);
/// ```
pub fn tool_names<S: AsRef<str>, E: AsRef<str>>(pairs: &[(S, E)]) -> Vec<String> {
    let mut order: Vec<usize> = (0..pairs.len()).collect();
    order.sort_by(|&a, &b| {
        let key = |i: usize| (pairs[i].0.as_ref(), pairs[i].1.as_ref());
        key(a).cmp(&key(b)).then(a.cmp(&b))
    });
    let mut names = vec![String::new(); pairs.len()];
    let mut taken = BTreeSet::new();
    // Plain names first, so a hashed name never takes a plain one's place.
    let plain: Vec<String> = pairs
        .iter()
        .map(|(s, e)| plain_name(s.as_ref(), e.as_ref()))
        .collect();
    let mut claims: BTreeMap<&str, usize> = BTreeMap::new();
    for &i in &order {
        claims.entry(plain[i].as_str()).or_insert(i);
    }
    for (name, &i) in &claims {
        if name.len() <= MAX_NAME {
            names[i] = (*name).to_owned();
            taken.insert((*name).to_owned());
        }
    }
    for &i in &order {
        if !names[i].is_empty() {
            continue;
        }
        let (service, endpoint) = (pairs[i].0.as_ref(), pairs[i].1.as_ref());
        let mut salt = 0u32;
        let name = loop {
            let candidate = hashed_name(&plain[i], service, endpoint, salt);
            if !taken.contains(&candidate) {
                break candidate;
            }
            salt += 1;
        };
        taken.insert(name.clone());
        names[i] = name;
    }
    names
}

/// `<service>_<endpoint>` with unsafe characters as `_`.
fn plain_name(service: &str, endpoint: &str) -> String {
    let safe = |c: char| {
        if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
            c
        } else {
            '_'
        }
    };
    let mut name: String = service.chars().map(safe).collect();
    name.push('_');
    name.extend(endpoint.chars().map(safe));
    if name.is_empty() { "_".into() } else { name }
}

/// The head of `plain` and `_<hash>`, at most [`MAX_NAME`] characters.
fn hashed_name(plain: &str, service: &str, endpoint: &str, salt: u32) -> String {
    let mut key = format!("{service}\u{0}{endpoint}");
    if salt > 0 {
        key.push_str(&format!("\u{0}{salt}"));
    }
    let hash = fnv1a(key.as_bytes());
    let head_len = plain.len().min(MAX_NAME - HASH_DIGITS - 1);
    // `plain` is ASCII, so any byte index is a character boundary.
    format!(
        "{}_{:0width$x}",
        &plain[..head_len],
        hash & 0xffff_ffff,
        width = HASH_DIGITS
    )
}

/// 64-bit FNV-1a: stable across runs, platforms and Rust versions.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(name: &str) -> bool {
        (1..=MAX_NAME).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    }

    #[test]
    fn dots_become_underscores() {
        let names = tool_names(&[("com.example.srv.greeter", "Greeter.Hello")]);
        assert_eq!(names, ["com_example_srv_greeter_Greeter_Hello"]);
    }

    #[test]
    fn other_characters_become_underscores_and_dashes_stay() {
        let names = tool_names(&[("my-svc/v1 é", "A.B")]);
        assert_eq!(names, ["my-svc_v1___A_B"]);
        assert!(valid(&names[0]));
    }

    #[test]
    fn long_names_are_shortened_with_a_stable_hash() {
        let service = "com.example.a.very.long.organisation.name.srv.inventory.reservations";
        let names = tool_names(&[(service, "Reservations.Create")]);
        let name = &names[0];
        assert_eq!(name.len(), MAX_NAME);
        assert!(valid(name), "{name}");
        assert!(name.starts_with("com_example_a_very_long_organisation_name_srv_inven"));
        // The same input always gives the same name.
        assert_eq!(tool_names(&[(service, "Reservations.Create")])[0], *name);
        // Another endpoint with the same head gets another name.
        let other = tool_names(&[(service, "Reservations.Cancel")]);
        assert_ne!(other[0], *name);
        assert_eq!(other[0][..55], name[..55]);
    }

    #[test]
    fn collisions_are_resolved_whatever_the_order() {
        let a = ("a.b", "C.D");
        let b = ("a_b", "C.D");
        let c = ("a.b", "C_D");
        let forward = tool_names(&[a, b, c]);
        let backward = tool_names(&[c, b, a]);
        assert_eq!(forward[0], backward[2]);
        assert_eq!(forward[1], backward[1]);
        assert_eq!(forward[2], backward[0]);
        // "a.b" < "a_b" ('.' < '_'), and ("a.b", "C.D") < ("a.b", "C_D").
        assert_eq!(forward[0], "a_b_C_D");
        assert!(forward[1].starts_with("a_b_C_D_") && forward[1].len() == 7 + 9);
        assert!(forward[2].starts_with("a_b_C_D_"));
        let unique: BTreeSet<_> = forward.iter().collect();
        assert_eq!(unique.len(), 3);
        assert!(forward.iter().all(|n| valid(n)));
    }

    #[test]
    fn a_hashed_name_never_takes_a_plain_one() {
        // A service whose plain name looks like another's hashed name.
        let first = tool_names(&[("x", "Y"), ("x", "Y")]);
        assert_eq!(first[0], "x_Y");
        let hashed = first[1].clone();
        let (service, endpoint) = hashed.split_once('_').unwrap();
        let names = tool_names(&[("x", "Y"), ("x", "Y"), (service, endpoint)]);
        assert_eq!(names[2], hashed);
        assert_ne!(names[1], hashed);
        let unique: BTreeSet<_> = names.iter().collect();
        assert_eq!(unique.len(), 3);
    }

    #[test]
    fn empty_input_is_fine() {
        let none: [(&str, &str); 0] = [];
        assert!(tool_names(&none).is_empty());
    }
}
