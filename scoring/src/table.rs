//! CSV reading shared by submissions and reference labels.
//!
//! The header goes through the `csv` crate (quotes, CRLF, odd spacing). The body takes a fast
//! path when it holds no `"` and no bare carriage return: it is split at newline boundaries
//! into chunks that are checked for UTF-8 once and parsed in parallel with rayon, fields being
//! plain `&str` slices (no allocation per field). Bodies with quotes go through the `csv`
//! crate sequentially, with the same per-row callback, so both paths accept and refuse the
//! same files with the same messages.
//!
//! Row numbers are 1-based physical line numbers with the header on row 1 (what a text editor
//! or a spreadsheet shows). Blank lines are skipped but still counted.

use rayon::prelude::*;

/// The header row of a CSV file and where its body starts.
#[derive(Debug)]
pub(crate) struct Header {
    /// Column names with surrounding whitespace and quotes removed.
    pub names: Vec<String>,
    /// Byte offset of the first body line.
    pub body_start: usize,
    /// Row number (1-based) of the first body line.
    pub first_body_row: u32,
}

/// Removes a UTF-8 byte order mark.
pub(crate) fn strip_bom(data: &[u8]) -> &[u8] {
    data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data)
}

/// Reads the header row; the error is the one-line message.
pub(crate) fn read_header(data: &[u8]) -> Result<Header, String> {
    let first_line = memchr::memchr(b'\n', data).unwrap_or(data.len());
    if first_line > MAX_LINE_BYTES {
        return Err(format!(
            "row 1 (the header) is longer than {MAX_LINE_BYTES} bytes; is this a CSV file?"
        ));
    }
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(data);
    let mut rec = csv::ByteRecord::new();
    match rdr.read_byte_record(&mut rec) {
        Ok(true) => {}
        Ok(false) => return Err("the file is empty".into()),
        Err(e) => {
            return Err(format!(
                "row 1 (the header) cannot be read: {}",
                one_line(&e)
            ))
        }
    }
    let mut body_start = (rdr.position().byte() as usize).min(data.len());
    // The csv crate stops after `\r` of a CRLF terminator; the body starts after the `\n`.
    if body_start > 0 && data[body_start - 1] == b'\r' && data.get(body_start) == Some(&b'\n') {
        body_start += 1;
    }
    let first_body_row = 1 + memchr::memchr_iter(b'\n', &data[..body_start]).count() as u32;
    let mut names = Vec::with_capacity(rec.len());
    for field in rec.iter() {
        let text = std::str::from_utf8(field)
            .map_err(|_| "row 1 (the header) is not valid UTF-8 text; save the file as UTF-8")?;
        names.push(clean_name(text).to_string());
    }
    if names.len() == 1 {
        // No comma in the header: name the separator that was used instead, if any.
        let line = &data[..body_start];
        let separators = [
            (b';', "\";\" (semicolons)"),
            (b'\t', "\"\\t\" (tabs)"),
            (b'|', "\"|\" (pipes)"),
        ];
        let found = separators
            .iter()
            .map(|&(sep, name)| (memchr::memchr_iter(sep, line).count(), name))
            .filter(|(n, _)| *n > 0)
            .max_by_key(|(n, _)| *n);
        if let Some((_, name)) = found {
            return Err(format!("the file is separated by {name}; use commas"));
        }
    }
    Ok(Header {
        names,
        body_start,
        first_body_row,
    })
}

/// A header name without surrounding whitespace and quotes.
fn clean_name(raw: &str) -> &str {
    let mut s = raw.trim();
    loop {
        let stripped = s
            .strip_prefix('"')
            .and_then(|x| x.strip_suffix('"'))
            .or_else(|| s.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')));
        match stripped {
            Some(inner) if s.len() >= 2 => s = inner.trim(),
            _ => return s,
        }
    }
}

/// A value or name quoted for a one-line message: long values are cut, control characters
/// and quotes escaped.
pub(crate) fn quote(value: &str) -> String {
    const MAX_CHARS: usize = 60;
    match value.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{:?}...", &value[..cut]),
        None => format!("{value:?}"),
    }
}

/// An error message squeezed onto one line.
pub(crate) fn one_line(e: &dyn std::fmt::Display) -> String {
    e.to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// `"a", "b", "c", ...`: at most `max` names quoted, then `...` if there are more.
pub(crate) fn list<'a>(names: impl IntoIterator<Item = &'a str>, max: usize) -> String {
    let mut names = names.into_iter().peekable();
    let mut out: Vec<String> = names.by_ref().take(max).map(quote).collect();
    if names.peek().is_some() {
        out.push("...".into());
    }
    out.join(", ")
}

/// `1 id` / `3 ids`.
pub(crate) fn count_of(n: usize, singular: &str, plural: &str) -> String {
    if n == 1 {
        format!("1 {singular}")
    } else {
        format!("{n} {plural}")
    }
}

/// Why one cell was refused: the column index and what is wrong with the value.
#[derive(Debug)]
pub(crate) struct CellError {
    /// Column index in the header.
    pub col: usize,
    /// The end of the message, e.g. `value "1.2" is outside [0, 1]`.
    pub problem: String,
}

/// Receives the body rows of one chunk, in file order.
pub(crate) trait RowSink: Send {
    /// One row (its 1-based row number and exactly as many fields as the header).
    fn row(&mut self, row: u32, fields: &[&str]) -> Result<(), CellError>;
}

/// A body row that broke a rule, before it is turned into a message.
#[derive(Debug)]
enum RowError {
    Ragged(usize),
    Cell(CellError),
    Utf8(usize),
    Csv(String),
}

/// Parses the body rows, in parallel when possible, into one sink per chunk (in file
/// order); `make(n)` makes the sink of a chunk of at most `n` rows. The error is the one-line
/// message of the first bad row in file order.
pub(crate) fn parse_rows<S, F>(
    body: &[u8],
    first_row: u32,
    names: &[String],
    make: F,
) -> Result<Vec<S>, String>
where
    S: RowSink,
    F: Fn(usize) -> S + Sync,
{
    let ncols = names.len();
    let fail = |row: u32, e: RowError| -> String {
        let col_name = |c: usize| names.get(c).map(|n| quote(n));
        match e {
            RowError::Ragged(found) => format!(
                "row {row} has {} but the header has {ncols}",
                count_of(found, "field", "fields")
            ),
            RowError::Cell(c) => match col_name(c.col) {
                Some(n) => format!("row {row}, column {n}: {}", c.problem),
                None => format!("row {row}: {}", c.problem),
            },
            RowError::Utf8(c) => match col_name(c) {
                Some(n) => {
                    format!("row {row}, column {n}: the text is not valid UTF-8; save the file as UTF-8")
                }
                None => format!("row {row} is not valid UTF-8 text; save the file as UTF-8"),
            },
            RowError::Csv(msg) => format!("row {row} cannot be read: {msg}"),
        }
    };
    // One parallel scan per chunk: does it need the csv crate (a quote, a bare carriage
    // return), how many lines does it hold (for row numbers and capacities), and is a line
    // absurdly long (a single line of millions of fields would cost gigabytes to split)?
    let chunks = split_chunks(body);
    let scans: Vec<ChunkScan> = chunks.par_iter().map(|c| scan_chunk(c)).collect();
    let mut row = first_row;
    for scan in &scans {
        if let Some(i) = scan.first_long_line {
            return Err(format!(
                "row {} is longer than {MAX_LINE_BYTES} bytes; a row holds one image's id and probabilities",
                row + i
            ));
        }
        row += scan.lines;
    }
    if scans.iter().any(|s| s.quoted) {
        let lines = scans.iter().map(|s| s.lines as usize).sum::<usize>() + 1;
        return parse_rows_csv(body, first_row, ncols, make(lines)).map_err(|(r, e)| fail(r, e));
    }
    let mut starts = Vec::with_capacity(chunks.len());
    let mut row = first_row;
    for scan in &scans {
        starts.push(row);
        row += scan.lines;
    }
    let results: Vec<Result<S, (u32, RowError)>> = chunks
        .par_iter()
        .zip(starts.par_iter().zip(scans.par_iter()))
        .map(|(chunk, (&start, scan))| {
            let lines = scan.lines as usize;
            parse_chunk(chunk, start, lines, ncols, make(lines + 1))
        })
        .collect();
    results
        .into_iter()
        .map(|r| r.map_err(|(row, e)| fail(row, e)))
        .collect()
}

/// Longest line accepted, header included: a real row is a few kilobytes.
pub(crate) const MAX_LINE_BYTES: usize = 1 << 20;

/// What the pre-scan of one chunk found.
struct ChunkScan {
    /// A quote or a bare carriage return: the csv crate must read the body.
    quoted: bool,
    /// Newlines in the chunk.
    lines: u32,
    /// Index (in the chunk) of the first line longer than [`MAX_LINE_BYTES`].
    first_long_line: Option<u32>,
}

fn scan_chunk(chunk: &[u8]) -> ChunkScan {
    // One pass for both: a CRLF file meets every `\r`, each followed by `\n`.
    let quoted = memchr::memchr2_iter(b'"', b'\r', chunk)
        .any(|i| chunk[i] == b'"' || chunk.get(i + 1) != Some(&b'\n'));
    let mut lines = 0u32;
    let mut first_long_line = None;
    let mut line_start = 0;
    for end in memchr::memchr_iter(b'\n', chunk).chain(std::iter::once(chunk.len())) {
        if end - line_start > MAX_LINE_BYTES && first_long_line.is_none() {
            first_long_line = Some(lines);
        }
        line_start = end + 1;
        lines += 1;
    }
    ChunkScan {
        quoted,
        // The end of the chunk was counted as a line end too.
        lines: lines - 1,
        first_long_line,
    }
}

/// Splits `body` into pieces ending at newlines, a few per worker thread.
pub(crate) fn split_chunks(body: &[u8]) -> Vec<&[u8]> {
    const MIN_CHUNK: usize = 256 * 1024;
    let target = (body.len() / (rayon::current_num_threads() * 4)).max(MIN_CHUNK);
    let mut chunks = Vec::new();
    let mut start = 0;
    while start < body.len() {
        let mut end = (start + target).min(body.len());
        if end < body.len() {
            end = match memchr::memchr(b'\n', &body[end..]) {
                Some(i) => end + i + 1,
                None => body.len(),
            };
        }
        chunks.push(&body[start..end]);
        start = end;
    }
    chunks
}

/// The fast path: one chunk of whole lines (`lines` newlines) without quotes.
fn parse_chunk<S: RowSink>(
    chunk: &[u8],
    first_row: u32,
    lines: usize,
    ncols: usize,
    sink: S,
) -> Result<S, (u32, RowError)> {
    match std::str::from_utf8(chunk) {
        Ok(text) => split_text(text, first_row, lines, ncols, sink),
        Err(e) => {
            // Rows before the bad line come first: a bad value there is the first error in
            // file order, whatever the chunk boundaries are.
            let bad = e.valid_up_to();
            let line_start = memchr::memrchr(b'\n', &chunk[..bad]).map_or(0, |i| i + 1);
            let before = std::str::from_utf8(&chunk[..line_start]).expect("valid up to here");
            let row = first_row + memchr::memchr_iter(b'\n', before.as_bytes()).count() as u32;
            split_text(before, first_row, lines, ncols, sink)?;
            let col = memchr::memchr_iter(b',', &chunk[line_start..bad]).count();
            Err((row, RowError::Utf8(col)))
        }
    }
}

/// Splits valid text of whole lines, choosing the faster separator search.
fn split_text<S: RowSink>(
    text: &str,
    first_row: u32,
    lines: usize,
    ncols: usize,
    sink: S,
) -> Result<S, (u32, RowError)> {
    let bytes = text.as_bytes();
    // Short fields (0/1 labels) are found faster byte by byte than by a vectorised search.
    if bytes.len() < (lines + 1) * ncols * 6 {
        let separators = bytes
            .iter()
            .enumerate()
            .filter(|(_, b)| matches!(b, b',' | b'\n'))
            .map(|(i, _)| i);
        split_lines(text, separators, first_row, ncols, sink)
    } else {
        let separators = memchr::memchr2_iter(b',', b'\n', bytes);
        split_lines(text, separators, first_row, ncols, sink)
    }
}

/// Cuts `text` into rows and fields at `separators` (the positions of every `,` and `\n`,
/// in order) and feeds the rows to `sink`.
fn split_lines<S: RowSink>(
    text: &str,
    separators: impl Iterator<Item = usize>,
    first_row: u32,
    ncols: usize,
    mut sink: S,
) -> Result<S, (u32, RowError)> {
    let bytes = text.as_bytes();
    let mut fields: Vec<&str> = Vec::with_capacity(ncols + 1);
    let mut row = first_row;
    let mut line_start = 0;
    let mut field_start = 0;
    for pos in separators.chain(std::iter::once(bytes.len())) {
        if pos < bytes.len() && bytes[pos] == b',' {
            fields.push(&text[field_start..pos]);
            field_start = pos + 1;
            continue;
        }
        let end = if pos > field_start && bytes[pos - 1] == b'\r' {
            pos - 1
        } else {
            pos
        };
        // A blank line (or the end of a chunk that ends with a newline) holds no row.
        if !(fields.is_empty() && end == line_start) {
            fields.push(&text[field_start..end]);
            if fields.len() != ncols {
                return Err((row, RowError::Ragged(fields.len())));
            }
            sink.row(row, &fields)
                .map_err(|e| (row, RowError::Cell(e)))?;
            fields.clear();
        }
        row += 1;
        line_start = pos + 1;
        field_start = pos + 1;
    }
    Ok(sink)
}

/// Where the text cell starting at `pos` ends: the first `,`, `\n`, `\r` or `"` (or the
/// end of `bytes`); and whether the cell is all ASCII. Used by the fast readers of both
/// files, which give up on a cell that stops at a quote or a bare carriage return.
pub(crate) fn cell_end(bytes: &[u8], mut pos: usize) -> (usize, bool) {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const HIGH: u64 = u64::from_le_bytes([0x80; 8]);
    let mut ascii = true;
    // Eight bytes at a time: a byte equal to `c` is a zero byte of `word ^ c`, flagged by the
    // classic has-zero trick. Bytes above a flagged one may be flagged falsely; the lowest
    // flag (the first byte in file order) is always right.
    while let Some(eight) = bytes.get(pos..pos + 8) {
        let word = u64::from_le_bytes(eight.try_into().expect("eight bytes"));
        let zero_of = |c: u8| {
            let x = word ^ (ONES * u64::from(c));
            x.wrapping_sub(ONES) & !x & HIGH
        };
        let found = zero_of(b',') | zero_of(b'\n') | zero_of(b'\r') | zero_of(b'"') | (word & HIGH);
        if found == 0 {
            pos += 8;
            continue;
        }
        pos += found.trailing_zeros() as usize / 8;
        if bytes[pos] < 0x80 {
            return (pos, ascii);
        }
        ascii = false;
        pos += 1;
    }
    while let Some(&b) = bytes.get(pos) {
        if matches!(b, b',' | b'\n' | b'\r' | b'"') {
            break;
        }
        ascii &= b < 0x80;
        pos += 1;
    }
    (pos, ascii)
}

/// Where the next line starts when a line ends at `pos`: `pos` itself at the end of `bytes`,
/// after the `\n` or `\r\n` there; `None` when something else is at `pos`.
#[inline]
pub(crate) fn next_line(bytes: &[u8], pos: usize) -> Option<usize> {
    match bytes.get(pos..)? {
        [] => Some(pos),
        [b'\n', ..] => Some(pos + 1),
        [b'\r', b'\n', ..] => Some(pos + 2),
        _ => None,
    }
}

/// `s` without surrounding whitespace, checking the cheap common case first.
#[inline]
pub(crate) fn trim(s: &str) -> &str {
    match s.as_bytes() {
        [first, .., last] if !first.is_ascii_whitespace() && !last.is_ascii_whitespace() => s,
        [only] if !only.is_ascii_whitespace() => s,
        _ => s.trim(),
    }
}

/// The quoted path: the `csv` crate, sequentially.
fn parse_rows_csv<S: RowSink>(
    body: &[u8],
    first_row: u32,
    ncols: usize,
    mut sink: S,
) -> Result<Vec<S>, (u32, RowError)> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(body);
    let mut rec = csv::ByteRecord::new();
    // The crate's own line numbers point before skipped blank lines, so rows are counted here
    // from the byte where each record really starts.
    let mut counted_to = 0usize;
    let mut row = first_row;
    loop {
        let before = rdr.position().byte() as usize;
        let start = before
            + body[before.min(body.len())..]
                .iter()
                .take_while(|b| matches!(b, b'\r' | b'\n'))
                .count();
        let start = start.min(body.len());
        if start > counted_to {
            row += memchr::memchr_iter(b'\n', &body[counted_to..start]).count() as u32;
            counted_to = start;
        }
        match rdr.read_byte_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err((row, RowError::Csv(one_line(&e)))),
        }
        let mut fields = Vec::with_capacity(rec.len());
        for (col, f) in rec.iter().enumerate() {
            fields.push(std::str::from_utf8(f).map_err(|_| (row, RowError::Utf8(col)))?);
        }
        if fields.len() != ncols {
            return Err((row, RowError::Ragged(fields.len())));
        }
        sink.row(row, &fields)
            .map_err(|e| (row, RowError::Cell(e)))?;
    }
    Ok(vec![sink])
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Collect(Vec<(u32, Vec<String>)>);
    impl RowSink for Collect {
        fn row(&mut self, row: u32, fields: &[&str]) -> Result<(), CellError> {
            if fields[1] == "bad" {
                return Err(CellError {
                    col: 1,
                    problem: "is bad".into(),
                });
            }
            self.0
                .push((row, fields.iter().map(|s| s.to_string()).collect()));
            Ok(())
        }
    }

    fn rows(data: &[u8]) -> Result<Vec<(u32, Vec<String>)>, String> {
        let h = read_header(data)?;
        let sinks = parse_rows(&data[h.body_start..], h.first_body_row, &h.names, |_| {
            Collect(Vec::new())
        })?;
        Ok(sinks.into_iter().flat_map(|s| s.0).collect())
    }

    #[test]
    fn both_paths_number_rows_like_an_editor() {
        let plain = rows(b"a,b\r\nx,1\r\n\r\ny,2\r\n").unwrap();
        let quoted = rows(b"a,b\r\n\"x\",1\r\n\r\ny,\"2\"\r\n").unwrap();
        assert_eq!(plain, quoted);
        assert_eq!(plain[0].0, 2);
        assert_eq!(plain[1], (4, vec!["y".to_string(), "2".to_string()]));
    }

    #[test]
    fn errors_name_row_and_column_on_both_paths() {
        assert_eq!(
            rows(b"a,b\nx,1\nx,bad\n").unwrap_err(),
            "row 3, column \"b\": is bad"
        );
        assert_eq!(
            rows(b"a,b\n\"x\",1\nx,bad\n").unwrap_err(),
            "row 3, column \"b\": is bad"
        );
        assert_eq!(
            rows(b"a,b\nx,1,2\n").unwrap_err(),
            "row 2 has 3 fields but the header has 2"
        );
        assert_eq!(
            rows(b"a,b\nx,bad\nx,\xff\n").unwrap_err(),
            "row 2, column \"b\": is bad"
        );
        assert_eq!(
            rows(b"a,b\nx,1\nx,\xff\n").unwrap_err(),
            "row 3, column \"b\": the text is not valid UTF-8; save the file as UTF-8"
        );
    }

    #[test]
    fn text_cells_end_at_the_first_separator_quote_or_carriage_return() {
        let line = "abcdefghijklmnopqrstuvwxyz0123456789é-ü_./: ;|\t".as_bytes();
        for stop in [b',', b'\n', b'\r', b'"'] {
            for at in 0..line.len() {
                let mut bytes = line.to_vec();
                bytes[at] = stop;
                let end = bytes
                    .iter()
                    .position(|b| matches!(b, b',' | b'\n' | b'\r' | b'"'));
                let end = end.unwrap();
                for from in 0..=at {
                    let ascii = bytes[from..end].is_ascii();
                    assert_eq!(
                        cell_end(&bytes, from),
                        (end, ascii),
                        "{stop} at {at} from {from}"
                    );
                }
            }
        }
        assert_eq!(cell_end(line, 0), (line.len(), false));
        assert_eq!(cell_end(line, 41), (line.len(), true));
    }

    #[test]
    fn lines_end_at_lf_crlf_or_the_end_only() {
        let bytes = b"a\nb\r\nc\rd";
        assert_eq!(next_line(bytes, 1), Some(2));
        assert_eq!(next_line(bytes, 3), Some(5));
        assert_eq!(
            next_line(bytes, 6),
            None,
            "a bare carriage return ends no line"
        );
        assert_eq!(next_line(bytes, 0), None);
        assert_eq!(next_line(bytes, bytes.len()), Some(bytes.len()));
    }

    #[test]
    fn header_names_are_cleaned() {
        let h = read_header(b" \"a\" , 'b' ,\" c \"\n").unwrap();
        assert_eq!(h.names, ["a", "b", "c"]);
        assert_eq!(quote("x\ty\"z"), "\"x\\ty\\\"z\"");
        let long = format!("a,b\nx,1\ny,{}\n", "1,".repeat(MAX_LINE_BYTES));
        assert_eq!(
            rows(long.as_bytes()).unwrap_err(),
            format!("row 3 is longer than {MAX_LINE_BYTES} bytes; a row holds one image's id and probabilities")
        );
        assert_eq!(
            read_header(b"dicom_id|A|B\n").unwrap_err(),
            "the file is separated by \"|\" (pipes); use commas"
        );
        assert_eq!(quote(&"9".repeat(70)), format!("\"{}\"...", "9".repeat(60)));
    }
}
