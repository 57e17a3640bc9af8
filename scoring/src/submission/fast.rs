//! The fused fast path for a submission body checked against a reference: one walk over the
//! bytes of each chunk finds the fields, reads the numbers (see [`crate::decimal`]) and puts
//! each row's scores straight into reference row order.
//!
//! It only accepts what is plainly valid: ASCII text without quotes, fields separated by
//! commas, LF or CRLF line ends (blank lines are skipped and counted like the general path
//! does), numbers in [0, 1]. Anything else (a quote, a stray carriage return, a bad value,
//! a ragged row, non-ASCII bytes, a very long field) makes it give up, and the general path
//! (`table::parse_rows`) reads the whole body again, so every refusal keeps its exact message
//! and row number. Id errors (unknown, duplicated, missing) are found afterwards from the
//! keys, the same way for both paths.

use rayon::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{reference_row, PredictionRows, Role, UNKNOWN};
use crate::decimal;
use crate::reference::Reference;
use crate::table;

/// Longest id or ignored field taken here; longer ones go to the general path, which also
/// enforces the line length limit.
const MAX_FIELD: usize = 4096;

/// Longest number field read by `str::parse` here.
const MAX_NUMBER: usize = 64;

/// Parses `body` (whose first line is row `first_row`) into `placed` (one column per label,
/// reference row order); `None` when the general path must read it instead.
pub(super) fn parse_body<'p>(
    body: &[u8],
    first_row: u32,
    roles: &'p [Role],
    nlabels: usize,
    reference: &'p Reference,
    placed: &'p [&'p [AtomicU64]],
) -> Option<Vec<PredictionRows<'p>>> {
    let chunks = table::split_chunks(body);
    let mut parsed: Vec<(PredictionRows<'p>, u32)> = chunks
        .par_iter()
        .map(|chunk| parse_chunk(chunk, roles, nlabels, reference, placed))
        .collect::<Option<_>>()?;
    // Rows were numbered from 0 in each chunk; every chunk but the last ends with a newline.
    let mut row = first_row;
    for (rows, lines) in &mut parsed {
        rows.first_row = first_row;
        for r in &mut rows.rows {
            *r += row;
        }
        for (r, _) in &mut rows.unknown {
            *r += row;
        }
        row += *lines;
    }
    Some(parsed.into_iter().map(|(rows, _)| rows).collect())
}

/// One chunk of whole lines: its records (rows numbered from 0) and its newline count.
fn parse_chunk<'p>(
    chunk: &[u8],
    roles: &'p [Role],
    nlabels: usize,
    reference: &'p Reference,
    placed: &'p [&'p [AtomicU64]],
) -> Option<(PredictionRows<'p>, u32)> {
    let mut out = PredictionRows {
        roles,
        reference: Some(reference),
        first_row: 0,
        columns: Vec::new(),
        placed,
        id_col: 0,
        rows: Vec::new(),
        keys: Vec::new(),
        ids: Vec::new(),
        unknown: Vec::new(),
    };
    let last = roles.len() - 1;
    let mut values = vec![0.0f64; nlabels];
    let mut line = 0u32;
    let mut previous_key = u32::MAX;
    let mut i = 0;
    while i < chunk.len() {
        // Blank lines hold no row but count in row numbers.
        if let Some(next) = table::next_line(chunk, i) {
            i = next;
            line += 1;
            continue;
        }
        let line_start = i;
        let mut key = None;
        for (col, role) in roles.iter().enumerate() {
            match *role {
                Role::Label(k) => {
                    let (v, end) = number(chunk, i)?;
                    values[k] = v;
                    i = end;
                }
                Role::Id => {
                    let end = text_field(chunk, i)?;
                    let id = std::str::from_utf8(&chunk[i..end]).ok()?;
                    let id = table::trim(id);
                    if id.is_empty() {
                        return None;
                    }
                    let found = reference_row(reference, id, previous_key.wrapping_add(1));
                    match found {
                        Some(k) => previous_key = k,
                        None => out.unknown.push((line, id.to_string())),
                    }
                    key = Some(found.unwrap_or(UNKNOWN));
                    i = end;
                }
                Role::Ignored => i = text_field(chunk, i)?,
            }
            // The separator after the field.
            i = match (col == last, chunk.get(i)) {
                (false, Some(b',')) => i + 1,
                (true, _) => table::next_line(chunk, i)?,
                _ => return None,
            };
        }
        if i - line_start > table::MAX_LINE_BYTES {
            return None;
        }
        let key = key.expect("every row has the id column");
        if key != UNKNOWN {
            for (column, &v) in placed.iter().zip(&values) {
                // A duplicated id writes its row twice, and the file is then refused.
                column[key as usize].store(v.to_bits(), Ordering::Relaxed);
            }
        }
        out.keys.push(key);
        out.rows.push(line);
        line += 1;
    }
    Some((out, line))
}

/// A probability field starting at `i`: its value and where it ends.
#[inline]
fn number(chunk: &[u8], i: usize) -> Option<(f64, usize)> {
    let (v, end) = match decimal::parse_decimal(chunk, i) {
        Some((v, end)) if matches!(chunk.get(end), None | Some(b',' | b'\n' | b'\r')) => (v, end),
        // Another form (spaces, a sign, many digits...): the field through str::parse.
        _ => {
            let end = text_field(chunk, i)?;
            if end - i > MAX_NUMBER {
                return None;
            }
            let text = std::str::from_utf8(&chunk[i..end]).ok()?;
            (table::trim(text).parse::<f64>().ok()?, end)
        }
    };
    // NaN fails this too; the general path names the problem.
    (0.0..=1.0).contains(&v).then_some((v, end))
}

/// The end of a text field starting at `i` (at the `,`, the line end or the chunk end),
/// `None` if it holds a quote, a carriage return that does not end the line, a byte that is
/// not ASCII, or is very long.
#[inline]
fn text_field(chunk: &[u8], i: usize) -> Option<usize> {
    let (end, ascii) = table::cell_end(chunk, i);
    let ends = chunk.get(end) == Some(&b',') || table::next_line(chunk, end).is_some();
    (ascii && ends && end - i <= MAX_FIELD).then_some(end)
}

#[cfg(test)]
mod tests {
    use super::super::{parse_by, Path};
    use crate::demo::{self, DemoOptions};
    use crate::reference::Reference;
    use crate::task::Task;

    /// A Task 2 reference and a plain submission with `rows` images (several chunks when large).
    fn demo_files(rows: usize) -> (Reference, String) {
        let task = Task::builtin(2).unwrap();
        let options = DemoOptions {
            rows,
            seed: 5,
            id_columns: false,
        };
        let data = demo::generate(&task, &options);
        let csv = demo::submission_csv_with_decimals(&task, &data, 1.0, 5, 17);
        let reference = Reference::parse(data.reference_csv.as_bytes(), Some(task)).unwrap();
        (reference, csv)
    }

    /// Parses `csv` both ways and checks the outcomes are identical (scores bit for bit,
    /// refusals word for word); returns the outcome.
    fn both_paths(reference: &Reference, csv: &str) -> Result<Vec<Vec<u64>>, String> {
        let run = |path| {
            parse_by(csv.as_bytes(), &reference.task, Some(reference), path)
                .map(|p| {
                    assert_eq!(p.ids, reference.ids);
                    let bits: Vec<Vec<u64>> = p
                        .scores
                        .iter()
                        .map(|c| c.iter().map(|v| v.to_bits()).collect())
                        .collect();
                    (bits, p.warnings)
                })
                .map_err(|e| e.to_string())
        };
        let (fast, general) = (run(Path::Fast), run(Path::General));
        assert_eq!(fast, general, "the two paths disagree");
        fast.map(|(bits, _)| bits)
    }

    /// Whether the fused path itself accepts `csv` (rather than handing it on).
    fn fast_accepts(reference: &Reference, csv: &str) -> bool {
        let bytes = csv.as_bytes();
        let header = crate::table::read_header(bytes).unwrap();
        let (roles, _) = super::super::plan_columns(&header.names, &reference.task).unwrap();
        let mut placed: Vec<Vec<f64>> = (0..reference.task.labels.len())
            .map(|_| vec![0.0; reference.len()])
            .collect();
        let views: Vec<_> = placed
            .iter_mut()
            .map(|c| super::super::atomic_view(c))
            .collect();
        super::parse_body(
            &bytes[header.body_start..],
            header.first_body_row,
            &roles,
            reference.task.labels.len(),
            reference,
            &views,
        )
        .is_some()
    }

    /// `csv` with every line passed through `f` (header included, line ends kept as `\n`).
    fn map_lines(csv: &str, mut f: impl FnMut(usize, &str) -> String) -> String {
        csv.lines()
            .enumerate()
            .map(|(i, l)| f(i, l) + "\n")
            .collect()
    }

    #[test]
    fn plain_files_take_the_fused_path_with_the_general_results() {
        let (reference, csv) = demo_files(3_000); // ~1.6 MB: several chunks
        assert!(fast_accepts(&reference, &csv));
        let plain = both_paths(&reference, &csv).unwrap();
        let mut variants = vec![
            ("crlf", csv.replace('\n', "\r\n")),
            ("no final newline", csv.trim_end().to_string()),
            // Blank lines anywhere (row numbers still count them).
            (
                "blank lines",
                map_lines(&csv, |i, l| {
                    if i % 397 == 5 {
                        format!("\n{l}")
                    } else {
                        l.to_string()
                    }
                }),
            ),
            // Rows in another order.
            ("reversed rows", {
                let mut lines: Vec<&str> = csv.lines().collect();
                lines[1..].reverse();
                lines.join("\n") + "\n"
            }),
            // The id last, an ignored id column and a label of another task first.
            (
                "moved columns",
                map_lines(&csv, |i, l| {
                    let (id, rest) = l.split_once(',').unwrap();
                    let extra = if i == 0 {
                        "Bulla,study_id".to_string()
                    } else {
                        format!("0.5,{}", 50_000_000 + i)
                    };
                    format!("{extra},{rest},{id}")
                }),
            ),
            // Other ways of writing the same numbers.
            (
                "written as exponents",
                map_lines(&csv, |i, l| {
                    if i == 0 {
                        return l.to_string();
                    }
                    let mut cells = l.split(',');
                    let id = cells.next().unwrap().to_string();
                    std::iter::once(id)
                        .chain(cells.map(|c| format!("{:e}", c.parse::<f64>().unwrap())))
                        .collect::<Vec<_>>()
                        .join(",")
                }),
            ),
        ];
        for (name, text) in &variants {
            assert!(
                fast_accepts(&reference, text),
                "{name}: not taken by the fused path"
            );
            assert_eq!(&both_paths(&reference, text).unwrap(), &plain, "{name}");
        }
        // Shapes the fused path hands on to str::parse per field, or to the general path.
        variants = vec![
            ("spaces around values", csv.replace(",0.", ", 0.")),
            (
                "many digits",
                csv.replacen(",0.", ",0.12345678901234567890123", 50),
            ),
            (
                "quoted ids",
                map_lines(&csv, |i, l| {
                    if i == 7 {
                        let (id, rest) = l.split_once(',').unwrap();
                        format!("\"{id}\",{rest}")
                    } else {
                        l.to_string()
                    }
                }),
            ),
            (
                "signs",
                csv.replacen(",0.", ",+0.", 3).replacen(",0,", ",-0,", 3),
            ),
        ];
        for (name, text) in &variants {
            both_paths(&reference, text).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn refusals_are_the_same_on_both_paths() {
        let (reference, csv) = demo_files(3_000);
        let lines: Vec<&str> = csv.lines().collect();
        let with_lines = |f: &dyn Fn(&mut Vec<String>)| {
            let mut l: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
            f(&mut l);
            l.join("\n") + "\n"
        };
        let cases = [
            // Duplicates across chunk boundaries, after blank lines: row numbers must agree.
            with_lines(&|l| {
                l.insert(300, String::new());
                l[2_900] = l[5].clone();
                l[2_000] = l[1_500].clone();
            }),
            with_lines(&|l| l[1_600] = l[1_600].replacen(|c: char| c.is_ascii_hexdigit(), "z", 1)),
            with_lines(&|l| l[1_600] = l[1_600].to_uppercase()),
            with_lines(&|l| {
                l.remove(10);
            }),
            with_lines(&|l| l[1_777] = l[1_777].replacen(",0.", ",1.5", 1)),
            with_lines(&|l| l[1_777] = l[1_777].replacen(",0.", ",NaN,", 1)),
            with_lines(&|l| l[1_777].push(',')),
            with_lines(&|l| l[1_777] = l[1_777].replacen(",0.", ",,0.", 1)),
            with_lines(&|l| l[1_777] = l[1_777].replacen(",0.", ",0.\u{e9}", 1)),
            with_lines(&|l| l[1_777] = l[1_777].replacen(",0.", ",0.1\r0", 1)),
            with_lines(&|l| l[2_999] = format!("{},{}", l[2_999], "0".repeat(1 << 20))),
        ];
        let errors: Vec<String> = cases
            .iter()
            .map(|text| both_paths(&reference, text).expect_err("refused"))
            .collect();
        // Row numbers are file lines, blank lines included, whatever chunk a row fell in.
        assert!(errors[0].contains("(rows 6 and 2901)"), "{}", errors[0]);
        assert!(errors[0].contains("(rows 1501 and 2001)"), "{}", errors[0]);
        assert!(errors[4].starts_with("row 1778, column "), "{}", errors[4]);
    }
}
