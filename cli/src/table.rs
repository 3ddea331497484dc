//! kumactl's tables: Go's `tabwriter` with padding 3 and spaces — every cell but the last of a
//! line padded to its column's widest cell plus three spaces, the last cell as it is, then an
//! optional footer line (the pagination hint).

/// A table to print.
#[derive(Clone, Debug, Default)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
    footer: Option<String>,
}

/// Spaces between columns.
const PADDING: usize = 3;

impl Table {
    /// A table with these column headers.
    pub fn new(headers: &[&str]) -> Table {
        Table {
            headers: headers.iter().map(|h| h.to_string()).collect(),
            ..Table::default()
        }
    }

    /// Adds a row (as many cells as headers).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Sets the line printed after the table.
    pub fn footer(&mut self, footer: Option<String>) {
        self.footer = footer;
    }

    /// The table as text, each line ending in `\n`.
    pub fn render(&self) -> String {
        let lines: Vec<&Vec<String>> = std::iter::once(&self.headers)
            .chain(self.rows.iter())
            .collect();
        let columns = lines.iter().map(|l| l.len()).max().unwrap_or(0);
        let mut widths = vec![0; columns];
        for line in &lines {
            // The last cell of a line is not part of any column (tabwriter's rule).
            for (i, cell) in line.iter().enumerate().take(line.len().saturating_sub(1)) {
                widths[i] = widths[i].max(cell.chars().count() + PADDING);
            }
        }
        let mut out = String::new();
        for line in &lines {
            for (i, cell) in line.iter().enumerate() {
                out.push_str(cell);
                if i + 1 < line.len() {
                    let pad = widths[i] - cell.chars().count();
                    out.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push('\n');
        }
        if let Some(footer) = &self.footer {
            out.push_str(footer);
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_three_spaces_apart_last_cell_unpadded() {
        let mut t = Table::new(&["NAME", "mTLS", "AGE"]);
        t.row(vec!["default".into(), "off".into(), "5m".into()]);
        t.row(vec!["a".into(), "builtin/ca-1".into(), "10s".into()]);
        t.footer(Some(
            "Rerun command with --offset=2 argument to retrieve more resources".into(),
        ));
        assert_eq!(
            t.render(),
            "NAME      mTLS           AGE\n\
             default   off            5m\n\
             a         builtin/ca-1   10s\n\
             Rerun command with --offset=2 argument to retrieve more resources\n"
        );
    }

    #[test]
    fn empty_middle_cells_are_padded_and_width_counts_characters() {
        let mut t = Table::new(&["MESH", "TAGS", "AGE"]);
        t.row(vec!["m".into(), "".into(), "1d".into()]);
        t.row(vec!["é".into(), "k=v".into(), "1d".into()]);
        assert_eq!(
            t.render(),
            "MESH   TAGS   AGE\nm             1d\né      k=v    1d\n"
        );
    }
}
