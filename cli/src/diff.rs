//! A line diff in unified format (three lines of context), for `ursactl diff`.

/// One line of the diff.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op<'a> {
    Same(&'a str),
    Removed(&'a str),
    Added(&'a str),
}

const CONTEXT: usize = 3;

/// The unified diff of `old` and `new` below `---`/`+++` header lines, or `None` when equal.
pub fn unified(old_name: &str, new_name: &str, old: &str, new: &str) -> Option<String> {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let ops = lcs_ops(&a, &b);
    if ops.iter().all(|op| matches!(op, Op::Same(_))) {
        return None;
    }
    let mut out = format!("--- {old_name}\n+++ {new_name}\n");
    // Group changes with their context into hunks.
    let changed: Vec<usize> = ops
        .iter()
        .enumerate()
        .filter(|(_, op)| !matches!(op, Op::Same(_)))
        .map(|(i, _)| i)
        .collect();
    let mut hunks: Vec<(usize, usize)> = Vec::new();
    for &i in &changed {
        let start = i.saturating_sub(CONTEXT);
        let end = (i + CONTEXT + 1).min(ops.len());
        match hunks.last_mut() {
            Some((_, e)) if start <= *e => *e = end.max(*e),
            _ => hunks.push((start, end)),
        }
    }
    for (start, end) in hunks {
        let (mut old_line, mut new_line) = (1, 1);
        for op in &ops[..start] {
            match op {
                Op::Same(_) => {
                    old_line += 1;
                    new_line += 1;
                }
                Op::Removed(_) => old_line += 1,
                Op::Added(_) => new_line += 1,
            }
        }
        let slice = &ops[start..end];
        let old_len = slice.iter().filter(|o| !matches!(o, Op::Added(_))).count();
        let new_len = slice
            .iter()
            .filter(|o| !matches!(o, Op::Removed(_)))
            .count();
        out.push_str(&format!(
            "@@ -{},{old_len} +{},{new_len} @@\n",
            if old_len == 0 { old_line - 1 } else { old_line },
            if new_len == 0 { new_line - 1 } else { new_line },
        ));
        for op in slice {
            match op {
                Op::Same(l) => out.push_str(&format!(" {l}\n")),
                Op::Removed(l) => out.push_str(&format!("-{l}\n")),
                Op::Added(l) => out.push_str(&format!("+{l}\n")),
            }
        }
    }
    Some(out)
}

/// Edit script from the longest common subsequence (documents are small: quadratic is fine).
fn lcs_ops<'a>(a: &[&'a str], b: &[&'a str]) -> Vec<Op<'a>> {
    let (n, m) = (a.len(), b.len());
    let mut len = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            len[i][j] = if a[i] == b[j] {
                len[i + 1][j + 1] + 1
            } else {
                len[i + 1][j].max(len[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut ops = Vec::with_capacity(n + m);
    while i < n && j < m {
        if a[i] == b[j] {
            ops.push(Op::Same(a[i]));
            i += 1;
            j += 1;
        } else if len[i + 1][j] >= len[i][j + 1] {
            ops.push(Op::Removed(a[i]));
            i += 1;
        } else {
            ops.push(Op::Added(b[j]));
            j += 1;
        }
    }
    ops.extend(a[i..].iter().map(|l| Op::Removed(l)));
    ops.extend(b[j..].iter().map(|l| Op::Added(l)));
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_texts_have_no_diff() {
        assert_eq!(unified("a", "b", "x\ny\n", "x\ny\n"), None);
    }

    #[test]
    fn changes_in_hunks_with_context() {
        let old = "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n";
        let new = "1\n2\nthree\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n";
        assert_eq!(
            unified("live", "file", old, new).unwrap(),
            "--- live\n+++ file\n\
             @@ -1,6 +1,6 @@\n 1\n 2\n-3\n+three\n 4\n 5\n 6\n\
             @@ -10,3 +10,4 @@\n 10\n 11\n 12\n+13\n"
        );
    }

    #[test]
    fn a_new_document_is_all_additions() {
        assert_eq!(
            unified("live", "file", "", "a\nb\n").unwrap(),
            "--- live\n+++ file\n@@ -0,0 +1,2 @@\n+a\n+b\n"
        );
    }
}
