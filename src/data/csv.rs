//! The user-CSV parser: numeric features, one label column (by name or index), standardized on the
//! training split, with messages that name the line and column of a bad cell.

use super::*;
use crate::core::error::clip;

// ---------------------------------------------------------------------------------------------
// CSV
// ---------------------------------------------------------------------------------------------

/// Splits one CSV line into trimmed cells. Double-quoted cells may hold the delimiter and `""`
/// for a quote; a quoted cell cannot span lines. Errors name the 1-based line and column.
pub(super) fn split_csv_line(line: &str, delim: char, lineno: usize) -> Result<Vec<String>> {
    let mut cells = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let col = cells.len() + 1;
        let mut cell = String::new();
        // skip leading blanks to find an opening quote
        while let Some(&ch) = chars.peek() {
            if ch != delim && (ch == ' ' || ch == '\t') {
                chars.next();
            } else {
                break;
            }
        }
        if chars.peek() == Some(&'"') {
            chars.next();
            let mut closed = false;
            while let Some(ch) = chars.next() {
                if ch == '"' {
                    if chars.peek() == Some(&'"') {
                        chars.next();
                        cell.push('"');
                    } else {
                        closed = true;
                        break;
                    }
                } else {
                    cell.push(ch);
                }
            }
            if !closed {
                bail!("CSV line {lineno}, column {col}: unterminated quoted cell");
            }
            // only blanks may follow the closing quote
            while let Some(&ch) = chars.peek() {
                if ch == delim {
                    break;
                }
                if ch == ' ' || ch == '\t' {
                    chars.next();
                } else {
                    bail!("CSV line {lineno}, column {col}: unexpected {ch:?} after a quoted cell");
                }
            }
            cells.push(cell);
        } else {
            while let Some(&ch) = chars.peek() {
                if ch == delim {
                    break;
                }
                cell.push(ch);
                chars.next();
            }
            cells.push(cell.trim().to_string());
        }
        match chars.next() {
            Some(_) => continue, // the delimiter
            None => break,
        }
    }
    Ok(cells)
}

/// The lines of `text`, each ended by LF, CRLF or a bare CR (classic Mac OS), without the ending.
pub(super) fn csv_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let t = rest?;
        match t.find(['\n', '\r']) {
            Some(i) => {
                let skip = if t[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = Some(&t[i + skip..]);
                Some(&t[..i])
            }
            None => {
                rest = None;
                Some(t)
            }
        }
    })
}

/// A cell's value if it is a finite number.
fn finite(cell: &str) -> Option<f32> {
    cell.parse::<f32>().ok().filter(|v| v.is_finite())
}

/// The cell's label as an integer, if it is one ("3", "-1", "3.0").
pub(super) fn integer_label(cell: &str) -> Option<i64> {
    if let Ok(v) = cell.parse::<i64>() {
        return Some(v);
    }
    let v = cell.parse::<f64>().ok()?;
    (v.is_finite() && v.fract() == 0.0 && v.abs() < 9.0e15).then_some(v as i64)
}

/// The header's column names for a message: the first 8, each as [`shown`], then how many more.
fn column_list(header: &[String]) -> String {
    const LISTED: usize = 8;
    let names: Vec<String> = header.iter().take(LISTED).map(|n| shown(n)).collect();
    match header.len().saturating_sub(LISTED) {
        0 => names.join(", "),
        more => format!("{}, and {more} more", names.join(", ")),
    }
}

/// `text` cut to 60 characters (marked `…`), for echoing a cell in a message.
fn shown(text: &str) -> String {
    clip(text, 60)
}

/// Describes 1-based column `col` for messages, with its header name when there is one.
fn col_desc(col: usize, header: Option<&[String]>) -> String {
    match header.and_then(|h| h.get(col - 1)) {
        Some(name) if !name.is_empty() => format!("column {col} ({:?})", shown(name)),
        _ => format!("column {col}"),
    }
}

/// Parses a user CSV: numeric feature columns and one label column (integer or string labels),
/// with an optional header row detected automatically (the first row is a header when one of its
/// cells is not a number while the cell below it is, or when none of its cells is a number). The
/// delimiter is `,`, `;` or tab, whichever the first row has most of; lines end in LF, CRLF or a
/// bare CR. Integer labels keep their
/// numeric order; string labels are numbered in order of first appearance. The rows are split by
/// the seeded permutation and `spec.test_fraction`; features are standardized with the training
/// split's mean and standard deviation (a constant column is only centred). Errors name the
/// 1-based line and column: empty file, ragged rows, empty or non-numeric cells, a single class,
/// and the limits [`MAX_CSV_BYTES`], [`MAX_CSV_ROWS`], [`MAX_CSV_FEATURES`], [`MAX_CSV_CLASSES`].
/// `spec.train_limit` is not applied here ([`load`] applies it).
pub fn parse_csv(text: &str, spec: &DatasetSpec, seed: u64) -> Result<Dataset> {
    spec.validate_split()?;
    if text.len() > MAX_CSV_BYTES {
        bail!(
            "CSV file is {:.1} MB, larger than the {} MB limit",
            text.len() as f64 / (1024.0 * 1024.0),
            MAX_CSV_BYTES / (1024 * 1024)
        );
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // (1-based line number, line text) of the non-blank lines
    let lines: Vec<(usize, &str)> =
        csv_lines(text).enumerate().map(|(i, l)| (i + 1, l)).filter(|(_, l)| !l.trim().is_empty()).collect();
    let Some(&(first_no, first)) = lines.first() else {
        bail!("CSV line 1, column 1: the file is empty");
    };
    let delim =
        [',', ';', '\t'].into_iter().max_by_key(|&d| (first.matches(d).count(), d == ',')).unwrap_or(',');

    let row0 = split_csv_line(first, delim, first_no)?;
    let ncols = row0.len();
    if ncols < 2 {
        bail!(
            "CSV line {first_no}, column 1: only one column; need at least one feature column and \
             a label column (delimiter: comma, semicolon or tab)"
        );
    }
    if ncols - 1 > MAX_CSV_FEATURES {
        bail!(
            "CSV line {first_no}, column {}: {} feature columns, more than the limit of {MAX_CSV_FEATURES}",
            MAX_CSV_FEATURES + 2,
            ncols - 1
        );
    }
    let has_header = match lines.get(1) {
        Some(&(no, l)) => {
            let row1 = split_csv_line(l, delim, no)?;
            row0.iter().all(|c| finite(c).is_none())
                || row0.iter().zip(&row1).any(|(a, b)| finite(a).is_none() && finite(b).is_some())
        }
        None => row0.iter().all(|c| finite(c).is_none()),
    };
    let header: Option<&[String]> = has_header.then_some(&row0[..]);

    // the label column (0-based)
    let label_col = match &spec.csv_label_column {
        None => ncols - 1,
        Some(want) => {
            let want = want.trim();
            let by_name = header.and_then(|h| h.iter().position(|c| c == want));
            let parsed = want.parse::<usize>();
            let want = shown(want);
            match (by_name, parsed) {
                (Some(i), _) => i,
                (None, Ok(i)) if i < ncols => i,
                (None, Ok(i)) => bail!(
                    "dataset.csv_label_column = {want:?}: index {i} is out of range; the CSV has \
                     {ncols} columns (0-based indices 0 to {})",
                    ncols - 1
                ),
                (None, Err(_)) => match header {
                    Some(h) => bail!(
                        "dataset.csv_label_column = {want:?}: no such column in the header on line \
                         {first_no} (columns: {})",
                        column_list(h)
                    ),
                    None => bail!(
                        "dataset.csv_label_column = {want:?}: the CSV has no header row (line \
                         {first_no} is data); give a 0-based column index instead"
                    ),
                },
            }
        }
    };
    let nf = ncols - 1;

    let data_lines = if has_header { &lines[1..] } else { &lines[..] };
    if data_lines.is_empty() {
        let line = first_no + 1;
        bail!("CSV line {line}, column 1: no data rows after the header on line {first_no}");
    }
    if data_lines.len() > MAX_CSV_ROWS {
        let (no, _) = data_lines[MAX_CSV_ROWS];
        bail!("CSV line {no}, column 1: more than {MAX_CSV_ROWS} data rows (the limit)");
    }
    if data_lines.len() < 2 {
        let (no, _) = data_lines[0];
        bail!("CSV line {no}, column 1: only one data row; need at least 2 (one to train, one to test)");
    }

    let n = data_lines.len();
    let mut x = Vec::with_capacity(n * nf);
    let mut raw_labels: Vec<String> = Vec::with_capacity(n);
    let mut label_lines: Vec<usize> = Vec::with_capacity(n);
    for &(no, line) in data_lines {
        let cells = split_csv_line(line, delim, no)?;
        if cells.len() != ncols {
            let origin = if has_header { "the header" } else { "the first row" };
            if cells.len() < ncols {
                bail!(
                    "CSV line {no}, column {}: missing cell; the row has {} columns but {origin} \
                     (line {first_no}) has {ncols}",
                    cells.len() + 1,
                    cells.len()
                );
            }
            bail!(
                "CSV line {no}, column {}: extra cell; the row has {} columns but {origin} (line \
                 {first_no}) has {ncols}",
                ncols + 1,
                cells.len()
            );
        }
        for (c, cell) in cells.iter().enumerate() {
            let col = c + 1;
            if cell.is_empty() {
                bail!("CSV line {no}, {}: empty cell (missing value)", col_desc(col, header));
            }
            if c == label_col {
                continue;
            }
            match finite(cell) {
                Some(v) => x.push(v),
                None => bail!(
                    "CSV line {no}, {}: {:?} is not a finite number (feature cells must be numeric)",
                    col_desc(col, header),
                    shown(cell)
                ),
            }
        }
        raw_labels.push(cells[label_col].clone());
        label_lines.push(no);
    }

    // labels -> class indices
    let label_desc = col_desc(label_col + 1, header);
    let ints: Option<Vec<i64>> = raw_labels.iter().map(|s| integer_label(s)).collect();
    let (y, class_names): (Vec<u32>, Vec<String>) = match ints {
        Some(ints) => {
            let mut distinct = ints.clone();
            distinct.sort_unstable();
            distinct.dedup();
            if distinct.len() > MAX_CSV_CLASSES {
                // report where the (MAX+1)-th distinct label first appears
                let mut seen = std::collections::HashSet::new();
                for (i, v) in ints.iter().enumerate() {
                    if seen.insert(*v) && seen.len() > MAX_CSV_CLASSES {
                        bail!(
                            "CSV line {}, {label_desc}: more than {MAX_CSV_CLASSES} distinct labels \
                             (is this a regression target or the wrong label column?)",
                            label_lines[i]
                        );
                    }
                }
            }
            let index: HashMap<i64, u32> = distinct.iter().enumerate().map(|(i, &v)| (v, i as u32)).collect();
            (ints.iter().map(|v| index[v]).collect(), distinct.iter().map(|v| v.to_string()).collect())
        }
        None => {
            let mut index: HashMap<&str, u32> = HashMap::new();
            let mut names = Vec::new();
            let mut y = Vec::with_capacity(n);
            for (i, s) in raw_labels.iter().enumerate() {
                let next = names.len() as u32;
                let id = *index.entry(s.as_str()).or_insert_with(|| {
                    names.push(s.clone());
                    next
                });
                if names.len() > MAX_CSV_CLASSES {
                    bail!(
                        "CSV line {}, {label_desc}: more than {MAX_CSV_CLASSES} distinct labels \
                         (is this the wrong label column?)",
                        label_lines[i]
                    );
                }
                y.push(id);
            }
            (y, names)
        }
    };
    let classes = class_names.len();
    if classes < 2 {
        bail!(
            "CSV lines {}-{}, {label_desc}: every row has the label {:?}; need at least 2 classes",
            label_lines[0],
            label_lines[n - 1],
            raw_labels[0]
        );
    }
    if spec.classes != DEFAULT_CLASSES && spec.classes != classes {
        bail!("dataset.classes = {}: the CSV's {label_desc} has {classes} distinct labels", spec.classes);
    }

    let n_test = test_count(n, spec.test_fraction);
    let (mut train_x, train_y, mut test_x, test_y) = split(&x, &y, nf, n_test, seed);
    standardize(&mut train_x, &mut test_x, nf);
    Ok(Dataset {
        name: "csv".to_string(),
        input_shape: vec![nf],
        classes,
        class_names,
        train_x,
        train_y,
        test_x,
        test_y,
        unlabelled_x: Vec::new(),
    })
}

/// Standardizes every feature column with the training rows' mean and (population) standard
/// deviation, accumulated in f64 so the result does not depend on the platform. A constant column
/// (std 0) is only centred.
fn standardize(train: &mut [f32], test: &mut [f32], nf: usize) {
    let rows = train.len() / nf;
    if rows == 0 {
        return;
    }
    let mut mean = vec![0f64; nf];
    for row in train.chunks_exact(nf) {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += v as f64;
        }
    }
    mean.iter_mut().for_each(|m| *m /= rows as f64);
    let mut var = vec![0f64; nf];
    for row in train.chunks_exact(nf) {
        for ((s, &v), &m) in var.iter_mut().zip(row).zip(&mean) {
            let d = v as f64 - m;
            *s += d * d;
        }
    }
    let inv: Vec<f64> = var
        .iter()
        .map(|&s| {
            let sd = (s / rows as f64).sqrt();
            if sd > 1e-12 { 1.0 / sd } else { 1.0 }
        })
        .collect();
    for buf in [train, test] {
        for row in buf.chunks_exact_mut(nf) {
            for ((v, &m), &k) in row.iter_mut().zip(&mean).zip(&inv) {
                *v = ((*v as f64 - m) * k) as f32;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_end_in_lf_crlf_or_a_bare_cr() {
        assert_eq!(csv_lines("a\nb\r\nc\rd").collect::<Vec<_>>(), ["a", "b", "c", "d"]);
        assert_eq!(csv_lines("a\r\r\nb\n").collect::<Vec<_>>(), ["a", "", "b", ""]);
        assert_eq!(csv_lines("").collect::<Vec<_>>(), [""]);
    }

    /// The same rows with each line ending give the same dataset; a bad cell in a CR-only file is
    /// reported on its own line.
    #[test]
    fn every_line_ending_parses_to_the_same_data() {
        let rows = ["x,y,label", "0.5,1,a", "0.25,2,b", "0.125,3,a", "1.5,4,b", "2.5,5,a", "3.5,6,b"];
        let spec = DatasetSpec::new(DatasetName::Csv);
        let parse = |end: &str| parse_csv(&(rows.join(end) + end), &spec, 3).unwrap();
        let lf = parse("\n");
        for end in ["\r\n", "\r"] {
            let d = parse(end);
            assert_eq!((d.n_train(), d.n_test()), (lf.n_train(), lf.n_test()), "{end:?}");
            assert_eq!(
                (&d.train_x, &d.train_y, &d.test_x),
                (&lf.train_x, &lf.train_y, &lf.test_x),
                "{end:?}"
            );
            assert_eq!(d.class_names, lf.class_names);
        }
        let bad = "x,y,label\r0.5,1,a\r0.25,oops,b\r0.125,3,a\r";
        let e = parse_csv(bad, &spec, 3).unwrap_err().to_string();
        assert!(e.contains("line 3") && e.contains("column 2"), "{e}");
    }
}
