//! The session list last handed out for one store, and what changed since: a caller that holds
//! the array built from the last text gets the entries that changed, not the whole text again.
//!
//! A login or a logout changes one entry of a list of thousands, and parsing the whole text
//! again (in Rust to check it, in JS to build the array) is what made a list call after a change
//! cost twice the reference's. So the memo keeps where each entry of the last text is, compares
//! the new text with it from both ends, and lexes only the part between the common prefix and
//! suffix. Anything it cannot cut that way (a change around the brackets, a text it cannot lex)
//! takes the whole-text path, which is what every answer was before.

use std::cell::{Cell, RefCell};
use std::ops::Range;

use super::{check_ids, AnyString};
use crate::error::Result;
use crate::storage::{Storage, REGISTERED_SESSIONS_KEY};

/// The session list last handed out for one store, so that an unchanged list is neither checked
/// nor handed out again: the caller keeps what it built from it (JS keeps its array).
#[derive(Default, Debug)]
pub struct ListMemo {
    last: RefCell<Option<Lexed>>,
    generation: Cell<u32>,
}

/// A checked list text and where its parts are.
#[derive(Debug)]
struct Lexed {
    text: String,
    /// `None` when the lexer here did not take the text (which `check_ids` did): no patches
    /// from it, only whole texts.
    layout: Option<Layout>,
}

/// Byte offsets in a list text.
#[derive(Debug, Clone)]
struct Layout {
    /// Each entry's string literal, quotes included, in order.
    entries: Vec<Range<usize>>,
    /// The opening and closing brackets.
    open: usize,
    close: usize,
}

/// The session list as the caller should take it.
#[derive(Debug, PartialEq, Eq)]
pub enum ListAnswer {
    /// The same text as the generation the caller holds.
    Unchanged,
    /// New text (checked), and the generation it is.
    Changed { generation: u32, json: String },
    /// The list of the generation the caller holds, with `remove` entries from index `at`
    /// replaced by the entries of `json` (a JSON array, checked), is `generation`'s list.
    Patched {
        generation: u32,
        at: u32,
        remove: u32,
        json: String,
    },
}

impl ListMemo {
    /// The list as the store holds it now, for a caller that holds generation `known`.
    pub async fn read(&self, storage: &dyn Storage, known: Option<u32>) -> Result<ListAnswer> {
        let text = storage.get(REGISTERED_SESSIONS_KEY).await?;
        self.answer(text, known)
    }

    /// `text` is what the store holds (`None`: no list, an empty one); `known` is the generation
    /// the caller holds, if any.
    pub fn answer(&self, text: Option<String>, known: Option<u32>) -> Result<ListAnswer> {
        let text = text.unwrap_or_else(|| "[]".to_owned());
        let caller_current = known == Some(self.generation.get());
        let mut last = self.last.borrow_mut();
        if let Some(held) = last.as_ref().filter(|held| held.text == text) {
            if caller_current {
                return Ok(ListAnswer::Unchanged);
            }
            return Ok(ListAnswer::Changed {
                generation: self.generation.get(),
                json: held.text.clone(),
            });
        }
        // A patch is only good against the text the caller's array was built from.
        let patch = match last.as_ref() {
            Some(Lexed {
                text: old,
                layout: Some(layout),
            }) if caller_current => patch(old, layout, &text),
            _ => None,
        };
        let Some(patch) = patch else {
            return self.replace(&mut last, text);
        };
        let (Ok(at), Ok(remove)) = (u32::try_from(patch.at), u32::try_from(patch.remove)) else {
            // Beyond what a JS array holds anyway: the whole text.
            return self.replace(&mut last, text);
        };
        let json = inserted_json(&text, &patch.layout.entries[patch.inserted]);
        *last = Some(Lexed {
            text,
            layout: Some(patch.layout),
        });
        let generation = self.generation.get().wrapping_add(1);
        self.generation.set(generation);
        Ok(ListAnswer::Patched {
            generation,
            at,
            remove,
            json,
        })
    }

    /// Checks `text` whole and makes it the memo, for the whole text's answer.
    fn replace(&self, last: &mut Option<Lexed>, text: String) -> Result<ListAnswer> {
        let layout = lex(&text);
        if layout.is_none() {
            // The lexer here refuses what `check_ids` refuses (property-tested); the error is
            // `check_ids`'s, which says what is wrong without quoting the data.
            check_ids(&text)?;
        }
        let generation = self.generation.get().wrapping_add(1);
        self.generation.set(generation);
        let json = text.clone();
        *last = Some(Lexed { text, layout });
        Ok(ListAnswer::Changed { generation, json })
    }
}

/// A patch from an old text to a new one.
struct Patch {
    /// The first entry that differs, and how many old entries go.
    at: usize,
    remove: usize,
    /// The new text's layout, and which of its entries are the inserted ones.
    layout: Layout,
    inserted: Range<usize>,
}

/// The inserted entries as a JSON array: their own text, separators and all.
fn inserted_json(text: &str, entries: &[Range<usize>]) -> String {
    match (entries.first(), entries.last()) {
        (Some(first), Some(last)) => {
            let mut json = String::with_capacity(last.end - first.start + 2);
            json.push('[');
            json.push_str(&text[first.start..last.end]);
            json.push(']');
            json
        }
        _ => "[]".to_owned(),
    }
}

/// What the lexer expects next.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Expect {
    /// Just after `[`: an entry or `]`.
    EntryOrEnd,
    /// Just after a comma: an entry.
    Entry,
    /// Just after an entry: a comma or `]`.
    CommaOrEnd,
}

const fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Lexes entries and separators of `text` from `from`, in state `expect`, up to `to` or the
/// first `]` outside a string, whichever comes first; pushes each entry's span to `out`. Returns
/// where it stopped and the state there; `None` when something else is met (not a list of
/// strings, or a string `check_ids` would refuse).
fn lex_entries(
    text: &str,
    from: usize,
    to: usize,
    mut expect: Expect,
    out: &mut Vec<Range<usize>>,
) -> Option<(usize, Expect)> {
    let bytes = text.as_bytes();
    let mut i = from;
    while i < to {
        match bytes[i] {
            b if is_space(b) => i += 1,
            b',' if expect == Expect::CommaOrEnd => {
                expect = Expect::Entry;
                i += 1;
            }
            b'"' if expect != Expect::CommaOrEnd => {
                let end = string_end(text, i, to)?;
                out.push(i..end);
                expect = Expect::CommaOrEnd;
                i = end;
            }
            b']' => return Some((i, expect)),
            _ => return None,
        }
    }
    Some((i, expect))
}

/// The end of the string literal that starts at `start` (just past its closing quote), when it
/// ends before `to` and is one `check_ids` takes as an entry.
fn string_end(text: &str, start: usize, to: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut plain = true;
    let mut i = start + 1;
    while i < to {
        match bytes[i] {
            b'"' => {
                let end = i + 1;
                // Escapes are few (IDs are UUIDs); the JSON parser itself rules on those.
                return (plain || serde_json::from_str::<AnyString>(&text[start..end]).is_ok())
                    .then_some(end);
            }
            b'\\' => {
                plain = false;
                i += 2;
            }
            // A control character is not allowed in a JSON string.
            0..=0x1f => return None,
            _ => i += 1,
        }
    }
    None
}

/// Bytes compared a block at a time: a block compare is one `memcmp`, where a byte loop is the
/// slowest part of a patch of a list of thousands.
const BLOCK: usize = 64;

/// How many bytes `a` and `b` have in common from the start.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let len = a.len().min(b.len());
    let mut i = 0;
    while i + BLOCK <= len && a[i..i + BLOCK] == b[i..i + BLOCK] {
        i += BLOCK;
    }
    i + a[i..len]
        .iter()
        .zip(&b[i..len])
        .take_while(|(x, y)| x == y)
        .count()
}

/// How many bytes `a` and `b` (of one length) have in common from the end.
fn common_suffix(a: &[u8], b: &[u8]) -> usize {
    let len = a.len().min(b.len());
    let (a, b) = (&a[a.len() - len..], &b[b.len() - len..]);
    let mut i = 0;
    while i + BLOCK <= len && a[len - i - BLOCK..len - i] == b[len - i - BLOCK..len - i] {
        i += BLOCK;
    }
    let (a, b) = (&a[..len - i], &b[..len - i]);
    i + a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take_while(|(x, y)| x == y)
        .count()
}

/// The layout of a whole list text, when it is a JSON array of strings this lexer takes.
fn lex(text: &str) -> Option<Layout> {
    let bytes = text.as_bytes();
    let open = bytes.iter().position(|&b| !is_space(b))?;
    if bytes[open] != b'[' {
        return None;
    }
    let mut entries = Vec::new();
    let (close, expect) =
        lex_entries(text, open + 1, text.len(), Expect::EntryOrEnd, &mut entries)?;
    let closed = bytes.get(close) == Some(&b']') && expect != Expect::Entry;
    let rest_is_space = bytes.get(close + 1..)?.iter().all(|&b| is_space(b));
    (closed && rest_is_space).then_some(Layout {
        entries,
        open,
        close,
    })
}

/// The patch from `old` (laid out as `layout`) to `new`, lexing only what lies between their
/// common prefix and suffix; `None` when the change cannot be cut along entries.
///
/// Why lexing the middle is enough: `new` up to the last old entry wholly in the common prefix is
/// the same bytes as `old`, so it lexes the same. The middle is lexed from the state `old` had
/// there, and must end in the state `old` had where the common suffix's first whole entry (or the
/// closing bracket) starts; from there on the bytes are the same again, lexed from the same
/// state.
fn patch(old: &str, layout: &Layout, new: &str) -> Option<Patch> {
    let (o, n) = (old.as_bytes(), new.as_bytes());
    let prefix = common_prefix(o, n);
    let entries = &layout.entries;
    let kept_before = entries.partition_point(|e| e.end <= prefix);
    if layout.open >= prefix {
        return None;
    }
    // Where the middle starts, the same in both texts: the common prefix cut back to an entry's
    // end, so that the suffix may take what the prefix gave back (`"b","c"` to `"c"`: the
    // prefix ends inside the old `"b"`, the suffix keeps `"c"`).
    let from = match kept_before {
        0 => layout.open + 1,
        k => entries[k - 1].end,
    };
    let room = o.len().min(n.len()) - from;
    let suffix = common_suffix(&o[o.len() - room..], &n[n.len() - room..]);
    let suffix_start = o.len() - suffix;
    let kept_after = entries.len() - entries.partition_point(|e| e.start < suffix_start);
    if layout.close < suffix_start {
        return None;
    }
    // Where it ends, in each text.
    let old_to = match kept_after {
        0 => layout.close,
        k => entries[entries.len() - k].start,
    };
    let new_to = old_to + n.len() - o.len();
    let state = if kept_before == 0 {
        Expect::EntryOrEnd
    } else {
        Expect::CommaOrEnd
    };
    let mut middle = Vec::new();
    let (stop, end_state) = lex_entries(new, from, new_to, state, &mut middle)?;
    let ends_right = match kept_after {
        // The closing bracket follows: no dangling comma.
        0 => end_state != Expect::Entry,
        // An entry follows: just after a comma or the opening bracket.
        _ => end_state != Expect::CommaOrEnd,
    };
    if stop != new_to || !ends_right {
        return None;
    }
    let inserted = kept_before..kept_before + middle.len();
    let mut new_entries = Vec::with_capacity(kept_before + middle.len() + kept_after);
    new_entries.extend_from_slice(&entries[..kept_before]);
    new_entries.extend(middle);
    let shift = |e: &Range<usize>| e.start + n.len() - o.len()..e.end + n.len() - o.len();
    new_entries.extend(entries[entries.len() - kept_after..].iter().map(shift));
    Some(Patch {
        at: kept_before,
        remove: entries.len() - kept_before - kept_after,
        layout: Layout {
            entries: new_entries,
            open: layout.open,
            close: layout.close + n.len() - o.len(),
        },
        inserted,
    })
}

#[cfg(test)]
pub(super) fn lexes(text: &str) -> bool {
    lex(text).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changed(generation: u32, json: &str) -> ListAnswer {
        ListAnswer::Changed {
            generation,
            json: json.into(),
        }
    }

    fn patched(generation: u32, at: u32, remove: u32, json: &str) -> ListAnswer {
        ListAnswer::Patched {
            generation,
            at,
            remove,
            json: json.into(),
        }
    }

    #[test]
    fn common_ends_are_counted_across_blocks() {
        let a = "x".repeat(200) + "a" + &"y".repeat(150);
        let b = "x".repeat(200) + "bc" + &"y".repeat(150);
        assert_eq!(common_prefix(a.as_bytes(), b.as_bytes()), 200);
        assert_eq!(common_suffix(a.as_bytes(), b.as_bytes()), 150);
        assert_eq!(common_prefix(b"abc", b"abc"), 3);
        assert_eq!(common_suffix(b"abc", b"xbc"), 2);
        assert_eq!(common_prefix(b"", b"a"), 0);
        assert_eq!(common_suffix(b"", b""), 0);
    }

    #[test]
    fn the_memo_hands_out_a_list_once_per_change() {
        let memo = ListMemo::default();
        let first = memo.answer(Some(r#"["a"]"#.into()), None).unwrap();
        assert_eq!(first, changed(1, r#"["a"]"#));
        assert_eq!(
            memo.answer(Some(r#"["a"]"#.into()), Some(1)).unwrap(),
            ListAnswer::Unchanged
        );
        // A caller that holds another generation (or none) gets the text again, same generation.
        assert_eq!(memo.answer(Some(r#"["a"]"#.into()), None).unwrap(), first);
        assert_eq!(memo.answer(None, Some(1)).unwrap(), patched(2, 0, 1, "[]"));
        // Corrupted text is an error and does not become the memo.
        assert!(memo.answer(Some("{oops".into()), Some(2)).is_err());
        assert!(memo.answer(Some(r#"["a","b"#.into()), Some(2)).is_err());
        assert!(memo.answer(Some(r#"[,"a"]"#.into()), Some(2)).is_err());
        assert_eq!(memo.answer(None, Some(2)).unwrap(), ListAnswer::Unchanged);
    }

    #[test]
    fn a_caller_that_holds_the_last_list_gets_what_changed() {
        let memo = ListMemo::default();
        memo.answer(Some(r#"["a","b","c"]"#.into()), None).unwrap();
        // A login: one entry added at the end.
        assert_eq!(
            memo.answer(Some(r#"["a","b","c","d"]"#.into()), Some(1))
                .unwrap(),
            patched(2, 3, 0, r#"["d"]"#)
        );
        // A logout: one entry taken from the middle.
        assert_eq!(
            memo.answer(Some(r#"["a","c","d"]"#.into()), Some(2))
                .unwrap(),
            patched(3, 1, 1, "[]")
        );
        // The first one gone, two put in its place, whitespace and escapes kept.
        assert_eq!(
            memo.answer(Some(r#"[ "x\"y" , "\ud800","c","d"]"#.into()), Some(3))
                .unwrap(),
            patched(4, 0, 1, r#"["x\"y" , "\ud800"]"#)
        );
        // A caller a generation behind gets the whole text.
        assert_eq!(
            memo.answer(Some(r#"["c","d"]"#.into()), Some(3)).unwrap(),
            changed(5, r#"["c","d"]"#)
        );
        // Emptied, and filled again.
        assert_eq!(
            memo.answer(Some("[]".into()), Some(5)).unwrap(),
            patched(6, 0, 2, "[]")
        );
        assert_eq!(
            memo.answer(Some(r#"["e"]"#.into()), Some(6)).unwrap(),
            patched(7, 0, 0, r#"["e"]"#)
        );
    }

    #[test]
    fn a_change_that_is_not_a_list_of_strings_is_refused_whole() {
        for bad in [
            r#"["a","b",]"#,
            r#"["a",,"b"]"#,
            r#"["a" "b"]"#,
            r#"["a","b"]]"#,
            r#"["a",["b"]]"#,
            r#"["a",7]"#,
            r#"["a","b\x"]"#,
            "[\"a\",\"b\u{1}\"]",
            r#"["a","b"] x"#,
            r#"["a\","b"]"#,
        ] {
            let memo = ListMemo::default();
            memo.answer(Some(r#"["a","b"]"#.into()), None).unwrap();
            assert!(memo.answer(Some(bad.into()), Some(1)).is_err(), "{bad}");
            assert_eq!(
                memo.answer(Some(r#"["a","b"]"#.into()), Some(1)).unwrap(),
                ListAnswer::Unchanged,
                "{bad}"
            );
        }
    }

    #[test]
    fn an_entry_that_swallows_a_separator_is_not_mistaken_for_a_kept_one() {
        // The common suffix `"y"]` holds an entry of the old text, which is part of a string in
        // the new one.
        let memo = ListMemo::default();
        memo.answer(Some(r#"["x","y"]"#.into()), None).unwrap();
        let answer = memo.answer(Some(r#"["x\",\"y"]"#.into()), Some(1)).unwrap();
        assert_eq!(answer, changed(2, r#"["x\",\"y"]"#));
    }
}
